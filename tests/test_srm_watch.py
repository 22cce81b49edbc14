"""The scheduler checks the running A/B phase's sample ratio by itself: a broken split sends
`srm.alarm` (once per phase) while traffic flows, without anyone opening the report."""

from __future__ import annotations

from sqlalchemy import func, select

from app.ab.service import AbConfig, Arm, sticky_arm
from app.extensions import db
from app.notify.models import Delivery, Webhook
from app.policy.scheduler import check_srm_task, ensure_scheduler, stop_scheduler
from app.state import periodic_last_run
from tests.factories import add_users, seed_ab_predictions
from tests.polling import poll

CONFIG = AbConfig("v1-vs-v2", "sticky", (Arm("v1", 0.5), Arm("v2", 0.5)))


def _seed(app, fair: int, skewed: int) -> None:
    """`fair` users on their sticky arm, then `skewed` users all on v1 (v2's turned away)."""
    with app.app_context():
        users = add_users(fair + skewed)
        for i, uid in enumerate(users):
            seed_ab_predictions(uid, sticky_arm(uid, CONFIG) if i < fair else "v1", [None])


def _hook(app) -> None:
    with app.app_context():
        db.session.add(Webhook(url="http://127.0.0.1:9/hook", events=["srm.alarm"], secret="s" * 16))
        db.session.commit()


def _alarms(app) -> int:
    """srm.alarm deliveries queued for the one webhook."""
    query = select(func.count()).select_from(Delivery).where(Delivery.event == "srm.alarm")
    with app.app_context():
        return db.session.scalar(query)


def test_the_periodic_check_alarms_once_per_phase_and_keeps_its_pace(make_app):
    app = make_app(AB_SRM_CHECK_SECONDS=3600)
    _hook(app)
    _seed(app, fair=60, skewed=0)
    with app.app_context():
        assert check_srm_task(app)["status"] == "ok"
        assert check_srm_task(app) is None  # within AB_SRM_CHECK_SECONDS: no read at all
    _seed(app, fair=0, skewed=100)
    assert _alarms(app) == 0  # nobody looked
    with app.app_context():
        periodic_last_run(app).clear()
        srm = check_srm_task(app)
        assert srm["status"] == "failing" and srm["sequential_p_value"] < 0.01, srm
        periodic_last_run(app).clear()
        assert check_srm_task(app)["status"] == "failing"
    assert _alarms(app) == 1  # one alarm for the phase, not one per check


def test_zero_turns_the_periodic_check_off(make_app):
    app = make_app(AB_SRM_CHECK_SECONDS=0)
    _hook(app)
    _seed(app, fair=0, skewed=100)
    with app.app_context():
        assert check_srm_task(app) is None
    assert _alarms(app) == 0


def test_the_running_scheduler_sends_the_alarm(make_app):
    app = make_app(SCHEDULER_ENABLED=True, SCHEDULER_TICK_SECONDS=0.05, AB_SRM_CHECK_SECONDS=0.05)
    _hook(app)
    _seed(app, fair=40, skewed=100)
    ensure_scheduler(app)
    try:
        assert poll(lambda: _alarms(app), lambda n: n >= 1, timeout=60) == 1
    finally:
        stop_scheduler(app)
    assert _alarms(app) == 1
