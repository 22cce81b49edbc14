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
