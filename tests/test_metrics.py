"""GET /metrics: access rules, request instrumentation, the record_* helpers, multiprocess mode.

Metric objects are process-global (the default registry), so tests compare before/after values
or use label values unique to the test.
"""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from app.metrics import record_feedback, record_prediction, record_retrain, set_served_version

ROOT = Path(__file__).resolve().parent.parent


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    out: dict[tuple[str, frozenset], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    """A sample's value, 0.0 when the series does not exist (yet)."""
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def has(text: str, name: str, **labels: str) -> bool:
    return (name, frozenset(labels.items())) in samples(text)


def scrape(client: FlaskClient, headers: dict | None = None) -> str:
    resp = client.get("/metrics", headers=headers or {})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_data(as_text=True)


def _unique() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


# --- access -----------------------------------------------------------------------------------


def test_metrics_requires_a_token(client: FlaskClient) -> None:
    resp = client.get("/metrics")
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "token_missing"


def test_metrics_forbidden_for_a_user(client: FlaskClient, user_headers: dict) -> None:
    resp = client.get("/metrics", headers=user_headers)
    assert resp.status_code == 403
    assert resp.get_json()["error"] == {
        "code": "forbidden",
        "status": 403,
        "message": "This endpoint requires the 'admin' role.",
    }


def test_metrics_for_an_admin(client: FlaskClient, admin_headers: dict) -> None:
    resp = client.get("/metrics", headers=admin_headers)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert resp.headers["Cache-Control"] == "no-store"
    names = {family.name for family in text_string_to_metric_families(resp.get_data(as_text=True))}
    assert {"digitserve_http_requests", "digitserve_predictions", "digitserve_served_model_version"} <= names


def test_metrics_public_when_configured(make_app) -> None:
    client = make_app(METRICS_PUBLIC=True).test_client()
    assert client.get("/metrics").status_code == 200


def test_metrics_absent_when_disabled(make_app) -> None:
    client = make_app(METRICS_ENABLED=False).test_client()
    resp = client.get("/metrics")
    assert resp.status_code == 404
    assert resp.get_json()["error"]["code"] == "not_found"


def test_metrics_exempt_from_rate_limits_and_limited_requests_counted(make_app) -> None:
    client = make_app(METRICS_PUBLIC=True, RATELIMIT_DEFAULT="2 per minute").test_client()
    before = scrape(client)
    statuses = [client.get("/openapi.json").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    for _ in range(5):
        after = scrape(client)
    labels = {"endpoint": "api-docs.openapi_json", "method": "GET"}
    total = "digitserve_http_requests_total"
    assert value(after, total, **labels, status="429") - value(before, total, **labels, status="429") == 1
    # Rejected in Flask-Limiter's before_request, yet timed: our start hook runs first.
    count = "digitserve_http_request_duration_seconds_count"
    assert value(after, count, **labels, status="429") - value(before, count, **labels, status="429") == 1


# --- request instrumentation -------------------------------------------------------------------


def test_request_counter_and_latency_by_endpoint(client: FlaskClient, admin_headers: dict) -> None:
    before = scrape(client, admin_headers)
    assert client.get("/health").status_code == 200
    after = scrape(client, admin_headers)
    labels = {"endpoint": "health.health", "method": "GET", "status": "200"}
    for name in ("digitserve_http_requests_total", "digitserve_http_request_duration_seconds_count"):
        assert value(after, name, **labels) - value(before, name, **labels) == 1, name
    bucket = value(after, "digitserve_http_request_duration_seconds_bucket", **labels, le="+Inf")
    assert bucket == value(after, "digitserve_http_request_duration_seconds_count", **labels)


def test_unmatched_paths_share_one_label(client: FlaskClient, admin_headers: dict) -> None:
    path = f"/no-such-{_unique()}"
    before = scrape(client, admin_headers)
    assert client.get(path).status_code == 404
    after = scrape(client, admin_headers)
    labels = {"endpoint": "unmatched", "method": "GET", "status": "404"}
    name = "digitserve_http_requests_total"
    assert value(after, name, **labels) - value(before, name, **labels) == 1
    assert path not in after


def test_metrics_scrapes_not_counted(client: FlaskClient, admin_headers: dict) -> None:
    scrape(client, admin_headers)
    text = scrape(client, admin_headers)
    assert 'endpoint="metrics.metrics"' not in text


def test_error_responses_counted_with_status(client: FlaskClient, admin_headers: dict) -> None:
    before = scrape(client, admin_headers)
    assert client.get("/auth/me").status_code == 401
    after = scrape(client, admin_headers)
    labels = {"endpoint": "auth.me", "method": "GET", "status": "401"}
    name = "digitserve_http_requests_total"
    assert value(after, name, **labels) - value(before, name, **labels) == 1


# --- record_* helpers -------------------------------------------------------------------------


def test_record_helpers_in_scrape(client: FlaskClient, admin_headers: dict) -> None:
    alias, version, outcome = _unique(), "17", _unique()
    record_prediction(alias, version, "v2")
    record_prediction(alias, version, "v2", n=4)
    record_prediction(alias, 18, None)
    record_feedback(version, True)
    record_feedback(version, False)
    record_feedback(version, False)
    record_retrain(outcome, 42.0)
    set_served_version(alias, 17)
    set_served_version(alias, "18")
    text = scrape(client, admin_headers)

    assert value(text, "digitserve_predictions_total", alias=alias, version="17", arm="v2") == 5
    assert value(text, "digitserve_predictions_total", alias=alias, version="18", arm="none") == 1
    feedback = "digitserve_feedback_total"
    before_correct = value(text, feedback, version=version, result="correct")
    assert before_correct >= 1 and value(text, feedback, version=version, result="incorrect") >= 2
    assert value(text, "digitserve_retrain_jobs_total", outcome=outcome) == 1
    assert value(text, "digitserve_retrain_duration_seconds_sum", outcome=outcome) == 42.0
    assert value(text, "digitserve_retrain_duration_seconds_bucket", outcome=outcome, le="60.0") == 1
    assert value(text, "digitserve_retrain_duration_seconds_bucket", outcome=outcome, le="30.0") == 0
    assert value(text, "digitserve_served_model_version", alias=alias) == 18


def test_record_helpers_never_raise(client: FlaskClient, admin_headers: dict) -> None:
    alias = _unique()
    record_prediction(alias, "1", "v1", n=-1)  # counters cannot go down: logged, not raised
    set_served_version(alias, "not-a-number")
    record_retrain(alias, float("nan"))
    text = scrape(client, admin_headers)
    # Invalid input creates no series either (not even an empty one).
    assert not has(text, "digitserve_predictions_total", alias=alias, version="1", arm="v1")
    assert not has(text, "digitserve_served_model_version", alias=alias)


# --- multiprocess (several gunicorn workers) -----------------------------------------------------

WORKER = """
import os, sys
from app.metrics import record_feedback, record_prediction, record_retrain, set_served_version
alias, n, served = sys.argv[1], int(sys.argv[2]), sys.argv[3]
record_prediction(alias, "7", "v1", n=n)
record_feedback("7", True)
record_retrain(alias, 10.0)
set_served_version(alias, served)
print(os.getpid())
"""


def _run_worker(directory: Path, alias: str, n: int, served: int) -> int:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", WORKER, alias, str(n), str(served)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(done.stdout.strip().splitlines()[-1])


def test_multiprocess_mode_sums_workers(make_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "prom"
    directory.mkdir()
    alias = _unique()
    # Sequential, so the "most recent" served version is deterministic.
    pids = [_run_worker(directory, alias, 2, served=7), _run_worker(directory, alias, 3, served=8)]
    assert len(set(pids)) == 2 and pids[0] != os.getpid()

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    client = make_app(METRICS_PUBLIC=True).test_client()
    text = scrape(client)
    assert value(text, "digitserve_predictions_total", alias=alias, version="7", arm="v1") == 5
    assert value(text, "digitserve_feedback_total", version="7", result="correct") == 2
    assert value(text, "digitserve_retrain_jobs_total", outcome=alias) == 2
    assert value(text, "digitserve_retrain_duration_seconds_sum", outcome=alias) == 20.0
    assert value(text, "digitserve_served_model_version", alias=alias) == 8

    # gunicorn's child_exit hook (gunicorn.conf.py) for both workers: their live gauge is gone,
    # the counters they wrote stay.
    child_exit = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["child_exit"]
    for pid in pids:
        child_exit(None, SimpleNamespace(pid=pid))
    text = scrape(client)
    assert not has(text, "digitserve_served_model_version", alias=alias)
    assert value(text, "digitserve_predictions_total", alias=alias, version="7", arm="v1") == 5
