"""Retrain policies (issue 17, item 3): the pure trigger rule, the database lease, the admin API,
the scheduler starting a retrain by itself (with its signed webhook and email), and several
processes racing the same lease, of which exactly one acts."""

from __future__ import annotations

import multiprocessing
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.ml.registry import BASE_ALIAS
from app.notify.deliverer import stop_deliverer
from app.policy.lease import acquire, holder_of, release
from app.policy.scheduler import LEASE_NAME, Scheduler, stop_scheduler
from app.policy.triggers import PolicyValues, Signals, due_trigger
from app.retrain.models import RetrainJob
from app.state import scheduler
from tests.conftest import TEMPLATE_LIMIT as LIMIT
from tests.factories import send_labels
from tests.notify_receivers import FAST, SECRET, Receiver, add_webhook
from tests.polling import json_ok, poll

NOW = datetime(2026, 11, 28, 12, 0, 0)
FINISHED = ("succeeded", "failed", "rejected")


def _ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


# --- the pure rule -----------------------------------------------------------------------------


def test_disabled_policy_never_triggers():
    policy = PolicyValues(enabled=False, min_new_labels=1, on_drift_alarm=True, interval_seconds=1)
    assert due_trigger(policy, Signals(new_labels=100, drift_alarm=True), NOW) is None


def test_min_new_labels_triggers_at_the_threshold():
    policy = PolicyValues(enabled=True, min_new_labels=20)
    assert due_trigger(policy, Signals(new_labels=19), NOW) is None
    assert due_trigger(policy, Signals(new_labels=25), NOW) == "policy:min_new_labels (25 new labels >= 20)"


def test_interval_counts_from_the_last_trained_job_else_from_the_policy():
    policy = PolicyValues(enabled=True, interval_seconds=3600, since=_ago(10))
    assert due_trigger(policy, Signals(), NOW) is None  # set 10 s ago, nothing trained yet
    assert due_trigger(policy, Signals(last_trained_at=_ago(3599)), NOW) is None
    reason = due_trigger(policy, Signals(last_trained_at=_ago(7200)), NOW)
    assert reason == "policy:interval (7200 s since the last retrain >= 3600 s)"
    old_policy = PolicyValues(enabled=True, interval_seconds=3600, since=_ago(4000))
    assert (
        due_trigger(old_policy, Signals(), NOW) == "policy:interval (4000 s since the last retrain >= 3600 s)"
    )


def test_drift_alarm_triggers_only_when_raised_and_asked_for():
    policy = PolicyValues(enabled=True, on_drift_alarm=True)
    assert due_trigger(policy, Signals(drift_alarm=None), NOW) is None  # unknown: no monitoring
    assert due_trigger(policy, Signals(drift_alarm=False), NOW) is None
    assert (
        due_trigger(policy, Signals(drift_alarm=True), NOW)
        == "policy:drift_alarm (the drift alarm is raised)"
    )
    off = PolicyValues(enabled=True, on_drift_alarm=False, min_new_labels=5)
    assert due_trigger(off, Signals(drift_alarm=True), NOW) is None


def test_accuracy_drop_compares_the_estimate_with_the_reference():
    policy = PolicyValues(enabled=True, accuracy_drop=0.05)
    assert due_trigger(policy, Signals(estimated_accuracy=0.92, reference_accuracy=0.95), NOW) is None
    reason = due_trigger(policy, Signals(estimated_accuracy=0.89, reference_accuracy=0.95), NOW)
    assert reason == "policy:accuracy_drop (estimated 0.8900 is 0.0600 below the reference 0.9500)"
    # Either figure unknown: no decision on accuracy.
    assert due_trigger(policy, Signals(estimated_accuracy=0.5, reference_accuracy=None), NOW) is None
    assert due_trigger(policy, Signals(estimated_accuracy=None, reference_accuracy=0.95), NOW) is None


def test_cooldown_holds_every_trigger_back_after_any_job():
    policy = PolicyValues(enabled=True, min_new_labels=1, on_drift_alarm=True, cooldown_seconds=600)
    busy = Signals(new_labels=50, drift_alarm=True, last_job_at=_ago(599))
    assert due_trigger(policy, busy, NOW) is None
    cooled = Signals(new_labels=50, drift_alarm=True, last_job_at=_ago(600))
    # The first trigger that holds names the reason: the drift alarm before the labels.
    assert due_trigger(policy, cooled, NOW) == "policy:drift_alarm (the drift alarm is raised)"


# --- the lease ---------------------------------------------------------------------------------


def test_lease_has_one_holder_until_it_expires_or_is_released(app):
    with app.app_context():
        assert acquire("t-lease", "a", 30, now=NOW)  # first ever: inserted
        assert not acquire("t-lease", "b", 30, now=NOW + timedelta(seconds=1))
        assert acquire("t-lease", "a", 30, now=NOW + timedelta(seconds=20))  # renewed to +50 s
        assert not acquire("t-lease", "b", 30, now=NOW + timedelta(seconds=45))
        assert acquire("t-lease", "b", 30, now=NOW + timedelta(seconds=51))  # a stopped renewing
        assert not acquire("t-lease", "a", 30, now=NOW + timedelta(seconds=52))
        assert holder_of("t-lease")[0] == "b"
        release("t-lease", "a")  # not a's any more: nothing changes
        assert holder_of("t-lease")[0] == "b"
        release("t-lease", "b")
        assert acquire("t-lease", "a", 30)  # at once, not after expiry
        assert holder_of("t-lease")[0] == "a"


# --- the API -----------------------------------------------------------------------------------


@pytest.fixture
def papp(make_app, store_uri):
    app = make_app(
        MLFLOW_TRACKING_URI=store_uri, RETRAIN_EXECUTOR="process", RATELIMIT_DEFAULT="10000 per hour"
    )
    yield app
    stop_scheduler(app)


def test_get_policy_answers_defaults_and_needs_an_admin(papp, sign_in):
    admin_client, admin = sign_in(papp, role="admin")
    body = json_ok(admin_client.get("/admin/retrain/policy", headers=admin))
    assert body["enabled"] is False and body["min_new_labels"] is None
    assert body["job"] == {"base": BASE_ALIAS} and body["updated_at"] is None
    user_client, user = sign_in(papp)
    assert user_client.get("/admin/retrain/policy", headers=user).status_code == 403
    assert user_client.put("/admin/retrain/policy", headers=user, json={"enabled": False}).status_code == 403
    assert user_client.get("/admin/retrain/policy").status_code == 401


def test_put_policy_saves_and_keeps_omitted_keys(papp, sign_in):
    client, admin = sign_in(papp, role="admin")
    first = {
        "enabled": True,
        "min_new_labels": 20,
        "cooldown_seconds": 60,
        "job": {"base": "v2", "epochs": 3},
    }
    resp = client.put("/admin/retrain/policy", headers=admin, json=first)
    assert resp.status_code == 200, resp.get_json()
    saved = resp.get_json()
    assert saved["min_new_labels"] == 20 and saved["job"] == {"base": "v2", "epochs": 3}
    assert saved["updated_by"] is not None and saved["updated_at"].endswith("+00:00")
    second = client.put("/admin/retrain/policy", headers=admin, json={"interval_seconds": 3600}).get_json()
    assert second["min_new_labels"] == 20 and second["interval_seconds"] == 3600 and second["enabled"] is True
    assert json_ok(client.get("/admin/retrain/policy", headers=admin)) == second
    # null turns a trigger off
    third = client.put("/admin/retrain/policy", headers=admin, json={"min_new_labels": None}).get_json()
    assert third["min_new_labels"] is None and third["interval_seconds"] == 3600


@pytest.mark.parametrize(
    "body",
    [
        {"min_new_labels": -1},
        {"min_new_labels": 0},
        {"interval_seconds": 0},
        {"cooldown_seconds": -5},
        {"accuracy_drop": 0},
        {"accuracy_drop": 1.5},
        {"min_new_labels": "many"},
        {"schedule": "0 * * * *"},  # unknown key
        {"job": {"base": "v1", "shuffle_labels": True}},  # unknown job key
        {"job": {"family": "forest"}},
        {"job": {"base": "v9"}},  # not in the registry
        {"enabled": True},  # no trigger
    ],
)
def test_put_policy_refuses_bad_values_and_changes_nothing(papp, sign_in, body):
    client, admin = sign_in(papp, role="admin")
    resp = client.put("/admin/retrain/policy", headers=admin, json=body)
    assert resp.status_code == 422, resp.get_json()
    assert "error" in resp.get_json()
    assert json_ok(client.get("/admin/retrain/policy", headers=admin))["updated_at"] is None


# --- the scheduler's tick, in process ----------------------------------------------------------


def _jobs(app) -> list[RetrainJob]:
    with app.app_context():
        jobs = list(db.session.scalars(select(RetrainJob).order_by(RetrainJob.id)))
        db.session.expunge_all()
        return jobs


def test_tick_starts_one_job_at_the_threshold_and_says_why(papp, sign_in):
    client, admin = sign_in(papp, role="admin")
    policy = {"enabled": True, "min_new_labels": 3, "cooldown_seconds": 0, "job": {"base": "v1"}}
    assert client.put("/admin/retrain/policy", headers=admin, json=policy).status_code == 200
    user_client, user = sign_in(papp)
    send_labels(user_client, user, 2)
    ticker = Scheduler(papp)
    assert ticker.tick() is True  # the lease holder evaluates...
    assert _jobs(papp) == []  # ...2 labels are not enough
    send_labels(user_client, user, 1, start=2)
    assert ticker.tick() is True
    [job] = _jobs(papp)
    assert job.trigger == "policy:min_new_labels (3 new labels >= 3)"
    assert job.requested_by is None and job.status == "queued"
    assert job.params == {"base": "v1", "promote_to": "v1"}
    # Still due, but the job lock says a job is active: skipped quietly, nothing new.
    assert ticker.tick() is True
    assert len(_jobs(papp)) == 1
    answered = json_ok(client.get(f"/admin/retrain/{job.id}", headers=admin))
    assert answered["trigger"] == job.trigger
    # Another process's scheduler does nothing while this one holds the lease.
    assert Scheduler(papp).tick() is False


def test_manual_jobs_say_which_admin_started_them(papp, sign_in):
    client, admin = sign_in(papp, role="admin")
    resp = client.post("/admin/retrain", headers=admin, json={"base": "v1"})
    assert resp.status_code == 202, resp.get_json()
    job = json_ok(client.get(f"/admin/retrain/{resp.get_json()['job_id']}", headers=admin))
    me = json_ok(client.get("/auth/me", headers=admin))["username"]
    assert job["trigger"] == f"admin:{me}"


# --- end to end: the policy retrains by itself, and the webhook and email arrive ---------------


@pytest.fixture
def live(make_app, store_uri, smtp):
    app = make_app(
        MLFLOW_TRACKING_URI=store_uri,
        RETRAIN_DATA_LIMIT=LIMIT,
        RETRAIN_PROMOTION_MARGIN=-0.05,
        NOTIFY_DELIVERER=True,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp.port,
        MAIL_DEFAULT_SENDER="digitserve@example.com",
        SCHEDULER_ENABLED=True,
        SCHEDULER_TICK_SECONDS=0.05,
        SCHEDULER_LEASE_SECONDS=30.0,
        **FAST,
    )
    from app.auth.services import create_user

    with app.app_context():
        create_user("policyadmin", "trainer-pass-1", role="admin", email="policy@example.com")
    client = app.test_client()
    tokens = client.post("/login", json={"username": "policyadmin", "password": "trainer-pass-1"}).get_json()
    yield app, client, {"Authorization": f"Bearer {tokens['access_token']}"}
    stop_scheduler(app)
    stop_deliverer(app)


def test_policy_retrains_by_itself_and_the_webhook_and_email_arrive(live, smtp, sign_in):
    app, client, admin = live
    receiver = Receiver(SECRET)
    try:
        add_webhook(client, admin, receiver.url, ["retrain.finished"])
        # A cooldown longer than the test: a failed job is not retried behind the assertions' back.
        policy = {"enabled": True, "min_new_labels": 4, "cooldown_seconds": 3600, "job": {"base": "v1"}}
        assert client.put("/admin/retrain/policy", headers=admin, json=policy).status_code == 200
        assert scheduler(app) is not None  # the first request started this process's scheduler
        user_client, user = sign_in(app)
        send_labels(user_client, user, 4)
        page = poll(
            lambda: json_ok(client.get("/admin/retrain", headers=admin)),
            lambda p: p["total"] >= 1 and p["items"][0]["status"] in FINISHED,
            timeout=180,
        )
        brief = [(j["id"], j["status"], j["trigger"], j["error"], j["created_at"]) for j in page["items"]]
        assert page["total"] == 1, brief  # nobody asked: the scheduler started it, once
        job = page["items"][0]
        assert job["status"] == "succeeded", (job["error"], job["decision"])
        assert job["trigger"] == "policy:min_new_labels (4 new labels >= 4)"
        assert job["requested_by"] is None and job["metrics"]["n_feedback_total"] == 4

        [hook] = poll(lambda: list(receiver.requests), lambda r: len(r) == 1, timeout=60)
        assert hook["signed"] and hook["body"]["event"] == "retrain.finished"
        assert hook["body"]["data"]["id"] == job["id"]
        assert hook["body"]["data"]["trigger"] == job["trigger"]
        [mail] = poll(lambda: smtp.messages, lambda m: len(m) == 1, timeout=60)
        assert mail["to"] == ["policy@example.com"]
        assert f"retrain job {job['id']} succeeded" in mail["data"]
        assert f"trigger: {job['trigger']}" in mail["data"]
        # The labels it trained on are not new any more: further ticks start nothing.
        assert scheduler(app).tick() is True
        assert json_ok(client.get("/admin/retrain", headers=admin))["total"] == 1
    finally:
        receiver.close()


# --- several processes, one database, one lease: exactly one acts -------------------------------

PROCESSES = 3
MIN_TICKS = 15


def _race(overrides: dict, barrier, results) -> None:  # noqa: ANN001 - multiprocessing objects
    """A separate process: its own app and scheduler thread on the shared database."""
    import time

    from app import create_app
    from app.policy.scheduler import ensure_scheduler

    app = create_app("testing", overrides)
    ticker = ensure_scheduler(app)
    deadline = time.monotonic() + 120
    while ticker.ticks < MIN_TICKS and time.monotonic() < deadline:
        ticker.stop_event.wait(0.05)
    barrier.wait(180)  # every process has ticked MIN_TICKS times and is still ticking
    results.put({"owner": ticker.owner, "ticks": ticker.ticks, "held": ticker.held})
    barrier.wait(180)  # nobody hands the lease over before all have reported
    ticker.stop()


def test_several_processes_race_the_lease_and_exactly_one_acts(make_app, store_uri, base_overrides, sign_in):
    parent = make_app(MLFLOW_TRACKING_URI=store_uri, RETRAIN_EXECUTOR="process")
    client, admin = sign_in(parent, role="admin")
    policy = {"enabled": True, "min_new_labels": 1, "cooldown_seconds": 0, "job": {"base": "v1"}}
    assert client.put("/admin/retrain/policy", headers=admin, json=policy).status_code == 200
    user_client, user = sign_in(parent)
    send_labels(user_client, user, 1)

    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
    overrides = {
        **base_overrides,
        "KEY_NAMESPACE": parent.config["KEY_NAMESPACE"],
        "MLFLOW_TRACKING_URI": store_uri,
        "RETRAIN_EXECUTOR": "process",  # the job stays queued: nobody trains in this test
        "SCHEDULER_ENABLED": True,
        "SCHEDULER_TICK_SECONDS": 0.05,
        "SCHEDULER_LEASE_SECONDS": 60.0,
    }
    procs = [ctx.Process(target=_race, args=(overrides, barrier, results)) for _ in range(PROCESSES)]
    for proc in procs:
        proc.start()
    reports = [results.get(timeout=240) for _ in procs]
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert all(r["ticks"] >= MIN_TICKS for r in reports), reports
    acting = [r for r in reports if r["held"] > 0]
    assert len(acting) == 1, reports  # one holder, every tick; the others never evaluated
    assert acting[0]["held"] >= MIN_TICKS
    with parent.app_context():
        assert holder_of(LEASE_NAME)[0] == acting[0]["owner"]
        count = db.session.scalar(select(func.count(RetrainJob.id)))
    [job] = _jobs(parent)
    assert count == 1 and job.trigger == "policy:min_new_labels (1 new labels >= 1)"
