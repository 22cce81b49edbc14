"""Metric objects and the helpers other parts of the app call.

Defined once at import: the default prometheus registry is process-global and the test suite
creates many apps, so per-app metric objects would raise "Duplicated timeseries".
Kept free of Flask imports so worker code and scripts can record cheaply.

Multiprocess (several gunicorn workers): set PROMETHEUS_MULTIPROC_DIR (an empty directory) in the
environment before the workers start; prometheus_client then writes every value to files there
and /metrics sums them with a MultiProcessCollector. gunicorn.conf.py's child_exit hook removes a
dead worker's live gauges.
"""

from __future__ import annotations

import logging
import os

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter(
    "digitserve_http_requests",
    "HTTP requests by Flask endpoint (not raw path, to bound cardinality), method and status.",
    ["endpoint", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "digitserve_http_request_duration_seconds",
    "HTTP request latency by Flask endpoint, method and status.",
    ["endpoint", "method", "status"],
)
PREDICTIONS = Counter(
    "digitserve_predictions",
    "Images classified, by model alias, model version and A/B arm.",
    ["alias", "version", "arm"],
)
OOD_PREDICTIONS = Counter(
    "digitserve_ood_predictions",
    "Answered images flagged out of distribution (not a digit), by model alias and version.",
    ["alias", "version"],
)
FEEDBACK = Counter(
    "digitserve_feedback",
    "User feedback on predictions by model version; result is 'correct' or 'incorrect'.",
    ["version", "result"],
)
RETRAIN_DURATION = Histogram(
    "digitserve_retrain_duration_seconds",
    "Retrain job wall time by outcome.",
    ["outcome"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200),
)
RETRAIN_JOBS = Counter("digitserve_retrain_jobs", "Finished retrain jobs by outcome.", ["outcome"])
# livemostrecent: across live workers the most recently set version wins, so a rollback to a
# lower version shows at once (livemax would keep the higher one until every worker reloaded).
SERVED_VERSION = Gauge(
    "digitserve_served_model_version",
    "Model version currently served per alias.",
    ["alias"],
    multiprocess_mode="livemostrecent",
)

# Drift monitoring (app/monitoring), set when an alias is evaluated; livemostrecent like the
# served version: the latest evaluation in any live worker wins.
DRIFT_P_VALUE = Gauge(
    "digitserve_drift_p_value",
    "Drift p-value per alias and test (mmd, class_chi2, and combined: Bonferroni-adjusted minimum).",
    ["alias", "test"],
    multiprocess_mode="livemostrecent",
)
DRIFT_ALARM = Gauge(
    "digitserve_drift_alarm",
    "1 while an alias's drift alarm is on.",
    ["alias"],
    multiprocess_mode="livemostrecent",
)
ESTIMATED_ACCURACY = Gauge(
    "digitserve_estimated_accuracy",
    "Accuracy estimated from calibrated confidence (CBPE) over the recent window, per alias.",
    ["alias"],
    multiprocess_mode="livemostrecent",
)


def _label(value: object) -> str:
    return "none" if value is None else str(value)


# Instrumentation must never fail the prediction, feedback or retrain that calls it.


def record_prediction(alias: str, version: int | str | None, arm: str | None, n: int = 1) -> None:
    """Count n classified images for a model alias/version and A/B arm (None -> "none")."""
    try:
        if n < 0:  # checked first: .labels() would already create an empty series
            raise ValueError(f"n must be >= 0, got {n}")
        PREDICTIONS.labels(alias=_label(alias), version=_label(version), arm=_label(arm)).inc(n)
    except Exception as exc:  # noqa: BLE001
        log.warning("record_prediction failed: %s", exc)


def record_ood(alias: str, version: int | str | None, n: int) -> None:
    """Count n answered images flagged out of distribution (nothing when n is 0)."""
    try:
        if n > 0:
            OOD_PREDICTIONS.labels(alias=_label(alias), version=_label(version)).inc(n)
    except Exception as exc:  # noqa: BLE001
        log.warning("record_ood failed: %s", exc)


def record_feedback(version: int | str | None, correct: bool) -> None:
    """Count one feedback as correct or incorrect for a model version."""
    try:
        FEEDBACK.labels(version=_label(version), result="correct" if correct else "incorrect").inc()
    except Exception as exc:  # noqa: BLE001
        log.warning("record_feedback failed: %s", exc)


def record_retrain(outcome: str, seconds: float) -> None:
    """Count one finished retrain job (e.g. outcome "promoted", "rejected", "failed") and its duration."""
    try:
        RETRAIN_JOBS.labels(outcome=_label(outcome)).inc()
        RETRAIN_DURATION.labels(outcome=_label(outcome)).observe(max(0.0, float(seconds)))
    except Exception as exc:  # noqa: BLE001
        log.warning("record_retrain failed: %s", exc)


def set_served_version(alias: str, version: int | str) -> None:
    """Set the served version of an alias; the version must be numeric (MLflow versions are)."""
    try:
        number = float(version)  # before .labels(), which would create a series at 0
        SERVED_VERSION.labels(alias=_label(alias)).set(number)
    except Exception as exc:  # noqa: BLE001
        log.warning("set_served_version(%r, %r) failed: %s", alias, version, exc)


def set_monitoring(
    alias: str, p_values: dict[str, float], alarm: bool | None, estimated_accuracy: float | None
) -> None:
    """Publish one alias's evaluation; figures that were not computed (window too small) are left as
    they were."""
    try:
        for test, value in p_values.items():
            DRIFT_P_VALUE.labels(alias=_label(alias), test=test).set(float(value))
        if alarm is not None:
            DRIFT_ALARM.labels(alias=_label(alias)).set(1.0 if alarm else 0.0)
        if estimated_accuracy is not None:
            ESTIMATED_ACCURACY.labels(alias=_label(alias)).set(float(estimated_accuracy))
    except Exception as exc:  # noqa: BLE001
        log.warning("set_monitoring(%r) failed: %s", alias, exc)


def multiproc_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def render() -> tuple[bytes, str]:
    """The scrape body and its content type (Prometheus text format 0.0.4)."""
    path = multiproc_dir()
    if path:
        # Per the prometheus_client docs: a fresh registry per scrape, reading every worker's files.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=path)
        return generate_latest(registry), CONTENT_TYPE_PLAIN_0_0_4
    return generate_latest(REGISTRY), CONTENT_TYPE_PLAIN_0_0_4
