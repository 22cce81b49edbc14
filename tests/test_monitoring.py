"""GET /admin/monitoring, drift alarms and the estimated accuracy, through the HTTP API: an
unshifted stream of real-world-style digits stays quiet, a shifted one (sideways photos) raises
the alarm and one signed `drift.alarm` webhook; plus the statistics on their own."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.monitoring import check_alarms, monitoring_signals
from app.monitoring.models import MonitoringState
from app.monitoring.reference import realworld_halves
from app.monitoring.stats import ConfidenceCalibrator, class_chi2_test, mmd_permutation_test
from app.notify.deliverer import stop_deliverer
from app.notify.models import Delivery
from app.policy.scheduler import check_drift_task
from tests.factories import predict_batches, realworld_uploads, rotated_upload
from tests.notify_receivers import FAST, SECRET, Receiver, add_webhook
from tests.polling import json_ok, poll

pytestmark = pytest.mark.usefixtures("models")

WINDOW = 200
SETTINGS = {
    "MONITORING_WINDOW": WINDOW,
    "MONITORING_MIN_WINDOW": 100,
    "MONITORING_CACHE_SECONDS": 0.0,  # every GET recomputes, except in the caching test
    "PREDICT_V2_LIMIT": "100000 per day",
    "PREDICT_V1_LIMIT": "100000 per day",
}


def _unshifted(n: int, offset: int = 0) -> list[tuple[bytes, int]]:
    """Real-world digits from the half that is never in the reference."""
    _, traffic = realworld_halves()
    picked = np.random.default_rng(offset).permutation(traffic)[:n]
    return realworld_uploads(picked)


def _monitoring(client, headers, **query) -> dict:  # noqa: ANN001
    return json_ok(client.get("/admin/monitoring", headers=headers, query_string=query))


def _row(client, headers, alias: str = "v2") -> dict:  # noqa: ANN001
    rows = _monitoring(client, headers, alias=alias)["aliases"]
    assert [r["alias"] for r in rows] == [alias]
    return rows[0]


@pytest.fixture
def mon(make_app, sign_in):
    app = make_app(**SETTINGS, NOTIFY_DELIVERER=True, **FAST)
    client, admin = sign_in(app, role="admin")
    _, user = sign_in(app)
    yield app, client, admin, user
    stop_deliverer(app)


def test_unshifted_stream_is_quiet_and_shifted_stream_alarms_once(mon):
    app, client, admin, user = mon
    receiver = Receiver(SECRET)
    try:
        add_webhook(client, admin, receiver.url, ["drift.alarm"])
        traffic = _unshifted(WINDOW)
        results = predict_batches(client, user, [blob for blob, _ in traffic])
        quiet = _row(client, admin)
        assert quiet["window"]["n"] == WINDOW and quiet["drift"]["alarm"] is False, quiet
        assert quiet["drift"]["p_value"] >= quiet["drift"]["alpha"]
        true_accuracy = np.mean(
            [r["prediction"] == label for r, (_, label) in zip(results, traffic, strict=True)]
        )
        assert abs(quiet["estimated_accuracy"] - true_accuracy) <= 0.05, (quiet, true_accuracy)

        shifted = [rotated_upload(blob) for blob, _ in _unshifted(WINDOW, offset=1)]
        predict_batches(client, user, shifted)
        alarm = _row(client, admin)
        assert alarm["drift"]["alarm"] is True and alarm["alarm_raised"] is True, alarm
        assert alarm["drift"]["p_value"] < alarm["drift"]["alpha"]
        assert alarm["estimated_accuracy"] < quiet["estimated_accuracy"]  # sideways digits: less sure
        # Evaluating again (the GET, the scheduler's check) keeps the alarm without a second event.
        assert _row(client, admin)["alarm_raised"] is False
        assert [r["alarm_raised"] for r in check_alarms(app) if r["alias"] == "v2"] == [False]
        # The scheduler's drift task runs the check at most once per MONITORING_CACHE_SECONDS.
        app.config["MONITORING_CACHE_SECONDS"] = 3600.0
        assert [r["alias"] for r in check_drift_task(app) if r["alias"] == "v2"] == ["v2"]
        assert check_drift_task(app) is None
        app.config["MONITORING_CACHE_SECONDS"] = 0.0
        with app.app_context():
            assert monitoring_signals("v2")["drift_alarm"] is True
            assert db.session.get(MonitoringState, "v2").alarm is True
            sent = db.session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.event == "drift.alarm")
            )
        assert sent == 1
        poll(receiver.events, lambda events: events == ["drift.alarm"], timeout=60)
        body = receiver.requests[0]["body"]["data"]
        assert receiver.requests[0]["signed"] and body["alias"] == "v2" and body["window_n"] == WINDOW
        assert body["p_value"] == alarm["drift"]["p_value"]
    finally:
        receiver.close()


def _traffic_images(n: int, offset: int, *, rotate: bool = False) -> np.ndarray:
    """Preprocessed real-world digits from the traffic half; `rotate`: turned a quarter."""
    from app.ml import realworld

    X, _, _ = realworld.preprocessed()
    _, traffic = realworld_halves()
    images = X[np.random.default_rng(offset).permutation(traffic)[:n]].reshape(-1, 28, 28)
    return (np.rot90(images, 1, axes=(1, 2)) if rotate else images).reshape(n, -1)


def _alarms_sent(app) -> int:  # noqa: ANN001
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.event == "drift.alarm")
        )


def _v2(rows: list[dict]) -> dict:
    return next(r for r in rows if r["alias"] == "v2")


def test_alarm_state_follows_the_windows_and_survives_a_restart(make_app, sign_in):
    from prometheus_client import REGISTRY

    from tests.factories import add_predictions

    app = make_app(**{**SETTINGS, "MONITORING_WINDOW": 150})
    client, admin = sign_in(app, role="admin")
    add_webhook(client, admin, "http://127.0.0.1:9/hook", ["drift.alarm"])  # no deliverer: rows stay queued
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MonitoringState)) == 0
    uid = client.get("/auth/me", headers=admin).get_json()["id"]
    steps = [(False, False, 0), (True, True, 1), (True, False, 1), (False, False, 1), (True, True, 2)]
    for i, (shifted, raised, sent) in enumerate(steps):
        if i != 2:  # step 2 re-checks the same window
            add_predictions(app, uid, "v2", _traffic_images(150, offset=10 + i, rotate=shifted))
        row = _v2(check_alarms(app))
        assert (row["drift"]["alarm"], row["alarm_raised"], _alarms_sent(app)) == (shifted, raised, sent), (
            i,
            row,
        )
        assert REGISTRY.get_sample_value("digitserve_drift_alarm", {"alias": "v2"}) == float(shifted)
        with app.app_context():
            signals = monitoring_signals("v2")
        assert signals["drift_alarm"] is shifted and 0.0 <= signals["estimated_accuracy"] <= 1.0
    # A new process (another worker, a restart) reads the stored alarm: no second event.
    other = make_app(**{**SETTINGS, "MONITORING_WINDOW": 150})
    assert _v2(check_alarms(other))["alarm_raised"] is False and _alarms_sent(other) == 2


def test_small_window_is_not_tested_and_feedback_accuracy_counts_the_window(make_app, sign_in):
    app = make_app(**SETTINGS)
    client, admin = sign_in(app, role="admin")
    user_client, user = sign_in(app)
    traffic = _unshifted(20, offset=3)
    results = predict_batches(user_client, user, [blob for blob, _ in traffic])
    verdicts = [r["prediction"] == label for r, (_, label) in zip(results[:10], traffic, strict=False)]
    for result, (_, label) in zip(results[:10], traffic, strict=False):
        resp = user_client.post(
            "/feedback",
            headers=user,
            json={
                "prediction_id": result["prediction_id"],
                "correct": result["prediction"] == label,
                "label": label,
            },
        )
        assert resp.status_code in (200, 201), resp.get_json()
    row = _row(client, admin)
    assert row["window"]["n"] == 20 and row["window"]["min_n"] == 100
    assert row["drift"] == {"mmd": None, "class_chi2": None, "p_value": None, "alpha": 0.01, "alarm": None}
    assert row["feedback_n"] == 10 and row["feedback_accuracy"] == pytest.approx(np.mean(verdicts))
    assert 0.5 <= row["estimated_accuracy"] <= 1.0
    with app.app_context():
        assert monitoring_signals("v2") == {"drift_alarm": None, "estimated_accuracy": None}
        assert db.session.get(MonitoringState, "v2") is None  # nothing tested: no verdict stored
    # A window of v1 too: every alias with recent traffic is listed, in order.
    predict_batches(user_client, user, [blob for blob, _ in traffic[:3]], alias="v1")
    rows = _monitoring(client, admin)["aliases"]
    assert [(r["alias"], r["window"]["n"]) for r in rows] == [("v1", 3), ("v2", 20)]
    assert _row(client, admin, "v1")["feedback_accuracy"] is None


def test_admin_only_and_bad_arguments(make_app, sign_in):
    app = make_app(**SETTINGS)
    client, admin = sign_in(app, role="admin")
    _, user = sign_in(app)
    assert client.get("/admin/monitoring").status_code == 401
    assert client.get("/admin/monitoring", headers=user).status_code == 403
    for query in (
        {"alias": "no spaces!"},
        {"alias": "x" * 65},
        {"since": "yesterday"},
        {"since": "2026-13-01"},
    ):
        resp = client.get("/admin/monitoring", headers=admin, query_string=query)
        assert resp.status_code == 422, (query, resp.get_json())
        assert resp.get_json()["error"]["code"] == "unprocessable_entity"
    resp = client.get("/admin/monitoring", headers=admin, query_string={"alias": "nosuch"})
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "alias_not_found"
    empty = _monitoring(client, admin)
    assert empty["aliases"] == [] and empty["computed_at"].endswith("+00:00")


def test_answers_are_cached_and_since_narrows_the_window(make_app, sign_in):
    from tests.factories import add_predictions

    app = make_app(**{**SETTINGS, "MONITORING_CACHE_SECONDS": 3600.0})
    client, admin = sign_in(app, role="admin")
    uid = client.get("/auth/me", headers=admin).get_json()["id"]
    add_predictions(app, uid, "v2", _traffic_images(30, offset=4))
    first = _monitoring(client, admin)
    add_predictions(app, uid, "v2", _traffic_images(30, offset=5))
    assert _monitoring(client, admin) == first  # within MONITORING_CACHE_SECONDS: not recomputed
    assert _v2(check_alarms(app))["window"]["n"] == 60  # the scheduler's check computes afresh...
    assert _v2(_monitoring(client, admin)["aliases"])["window"]["n"] == 60  # ...and refreshes the cache
    future = _monitoring(client, admin, alias="v2", since="2999-01-01")["aliases"][0]
    assert future["window"] == {"n": 0, "since": None, "size": WINDOW, "min_n": 100}
    assert future["estimated_accuracy"] is None


def test_mmd_permutation_test_quiet_on_one_distribution_and_tiny_on_a_shift():
    rng = np.random.default_rng(0)
    same = [
        mmd_permutation_test(
            rng.normal(size=(200, 5)), rng.normal(size=(300, 5)), permutations=200, seed=s
        ).p_value
        for s in range(10)
    ]
    assert np.median(same) > 0.2 and sum(p < 0.05 for p in same) <= 2, same
    shifted = mmd_permutation_test(
        rng.normal(size=(200, 5)), rng.normal(0.4, 1.0, size=(300, 5)), permutations=200
    )
    assert shifted.p_value == pytest.approx(1 / 201) and shifted.statistic > 0
    X = rng.normal(size=(50, 3))
    assert mmd_permutation_test(X, X.copy(), permutations=100).p_value == 1.0  # ties count against drift
    with pytest.raises(ValueError):
        mmd_permutation_test(X[:1], X, permutations=10)


def test_class_chi2_test():
    reference = np.full(10, 500)
    assert class_chi2_test(np.full(10, 20), reference).p_value > 0.99
    one_class = np.zeros(10, int)
    one_class[3] = 200
    assert class_chi2_test(one_class, reference).p_value < 1e-12
    assert class_chi2_test(one_class, one_class * 5).p_value == 1.0  # nothing to compare


def test_calibrated_confidence_estimates_accuracy():
    rng = np.random.default_rng(0)
    # An over-confident model: right with probability confidence**2, not confidence.
    confidence = rng.uniform(0.5, 1.0, size=4000)
    correct = rng.uniform(size=4000) < confidence**2
    calibrator = ConfidenceCalibrator(confidence[:2000], correct[:2000])
    estimate = calibrator.estimated_accuracy(confidence[2000:])
    assert abs(estimate - correct[2000:].mean()) < 0.03
    assert abs(confidence[2000:].mean() - correct[2000:].mean()) > 0.05  # raw confidence is not
    assert calibrator.estimated_accuracy(np.array([])) is None


def test_admin_page_has_the_monitoring_section(client):
    import re

    page = client.get("/admin").get_data(as_text=True)
    assert 'id="monitoring"' in page and 'id="monitoring-table"' in page
    assert "js/admin_monitoring.js" in page
    resp = client.get("/web/static/js/admin_monitoring.js")
    source = resp.get_data(as_text=True)
    resp.close()
    assert resp.status_code == 200 and '"/admin/monitoring"' in source
    assert not re.search(r"\.(innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write|localStorage", source)
