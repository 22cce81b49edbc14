"""Prometheus metrics: request count/latency hooks, domain counters and the /metrics endpoint.

Other modules call the record_* helpers (cheap, never raise):
    record_prediction(alias, version, arm, n=1)
    record_ood(alias, version, n)
    record_feedback(version, correct)
    record_retrain(outcome, seconds)
    set_served_version(alias, version)
"""

from __future__ import annotations

from flask import Flask

from app.metrics.collectors import (
    record_feedback,
    record_ood,
    record_prediction,
    record_retrain,
    set_served_version,
)
from app.metrics.views import blp, install_request_hooks


def init_metrics(app: Flask) -> None:
    """Add the request hooks and GET /metrics, unless METRICS_ENABLED is false."""
    if not app.config.get("METRICS_ENABLED", True):
        return
    install_request_hooks(app)
    app.register_blueprint(blp)


__all__ = [
    "init_metrics",
    "record_feedback",
    "record_ood",
    "record_prediction",
    "record_retrain",
    "set_served_version",
]
