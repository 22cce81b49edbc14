"""The outbox: retries with backoff, requests never delayed by a receiver, deliveries surviving a
restart, no double send with two deliverers on one database, alarm emails. Real HTTP and SMTP."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.notify import notify
from app.notify.deliverer import ensure_deliverer, stop_deliverer
from app.notify.models import Delivery
from app.state import notify_deliverer
from app.timeutil import utcnow
from tests.notify_receivers import FAST, SECRET, Receiver, SmtpServer, add_webhook, free_port
from tests.polling import json_ok, poll


@pytest.fixture
def apps(make_app):
    """make(**overrides) -> an app with the fast notification settings; deliverers stopped after."""
    made = []

    def make(**overrides):
        app = make_app(**{**FAST, **overrides})
        made.append(app)
        return app

    yield make
    for app in made:
        stop_deliverer(app)


def _deliveries(app) -> list[Delivery]:
    with app.app_context():
        rows = db.session.scalars(select(Delivery).order_by(Delivery.id)).all()
        db.session.expunge_all()
        db.session.commit()
        return rows


def test_receiver_down_gets_retries_with_backoff_and_requests_are_not_delayed(apps, sign_in):
    port = free_port()  # nothing listens here yet: connection refused
    app = apps(NOTIFY_DELIVERER=True, NOTIFY_BACKOFF_SECONDS=0.3)
    client, headers = sign_in(app, role="admin")
    hook = add_webhook(client, headers, f"http://127.0.0.1:{port}/hook", ["drift.alarm"])
    assert client.post(f"/admin/webhooks/{hook['id']}/test", headers=headers).status_code == 202
    url = f"/admin/webhooks/{hook['id']}/deliveries"
    failed = poll(
        lambda: json_ok(client.get(url, headers=headers))["items"][0],
        lambda row: row["attempts"] >= 2,
        timeout=30,
    )
    assert failed["status"] in ("pending", "sending") and "Error" in (failed["last_error"] or "")
    # The receiver comes up; it answers 503 once more, then 200: retried until delivered.
    receiver = Receiver(SECRET, port=port, fail_first=1)
    try:
        row = poll(
            lambda: json_ok(client.get(url, headers=headers))["items"][0],
            lambda r: r["status"] == "delivered",
            timeout=60,
        )
        assert row["status_code"] == 200 and row["attempts"] >= 4
        times = [r["at"] for r in receiver.requests]
        assert len(times) == 2 and times[1] - times[0] >= 0.3 * 2 ** (row["attempts"] - 2) * 0.9
        assert all(r["signed"] for r in receiver.requests)
    finally:
        receiver.close()


def test_slow_receiver_never_delays_requests(apps, sign_in):
    """While the deliverer is stuck inside a receiver that does not answer, requests that queue
    more deliveries are still answered: no request waits for a delivery."""
    hold = threading.Event()
    receiver = Receiver(SECRET, hold=hold)
    try:
        app = apps(NOTIFY_DELIVERER=True, NOTIFY_HTTP_TIMEOUT=100.0)
        client, headers = sign_in(app, role="admin")
        hook = add_webhook(client, headers, receiver.url, ["srm.alarm"])
        assert client.post(f"/admin/webhooks/{hook['id']}/test", headers=headers).status_code == 202
        poll(lambda: receiver.in_flight, lambda n: n >= 1, timeout=30)  # the deliverer is held
        for _ in range(3):
            assert client.post(f"/admin/webhooks/{hook['id']}/test", headers=headers).status_code == 202
            with app.app_context():
                notify("srm.alarm", {"experiment": "v1-vs-v2"})
            assert client.get("/admin/webhooks", headers=headers).status_code == 200
        # All of that was answered while the receiver still held the first delivery.
        assert receiver.in_flight >= 1 and receiver.events() == []
        hold.set()
        poll(lambda: sorted(receiver.events()), lambda e: len(e) == 7, timeout=60)
        assert receiver.events().count("srm.alarm") == 3
        assert receiver.events().count("webhook.test") == 4
    finally:
        receiver.close()


def test_pending_delivery_is_sent_after_a_restart(apps, sign_in):
    receiver = Receiver(SECRET)
    try:
        first = apps()  # no deliverer: the process "dies" with the rows queued
        client, headers = sign_in(first, role="admin")
        add_webhook(client, headers, receiver.url, ["model.rolled_back", "drift.alarm"])
        with first.app_context():
            notify("model.rolled_back", {"alias": "v2", "version": "3"})
            notify("drift.alarm", {"alias": "v2", "p_value": 0.001})
            # One was mid-send when the process died: claimed, lease since expired.
            db.session.execute(
                update(Delivery)
                .where(Delivery.event == "drift.alarm")
                .values(status="sending", attempts=1, lease_owner="dead", lease_until=utcnow() - timedelta(1))
            )
            db.session.commit()
        assert receiver.requests == []
        second = apps(NOTIFY_DELIVERER=True)  # the restarted service on the same database
        assert second.test_client().get("/health").status_code in (200, 503)  # any request starts it
        poll(
            lambda: sorted(receiver.events()), lambda e: e == ["drift.alarm", "model.rolled_back"], timeout=30
        )
        rows = poll(
            lambda: _deliveries(second), lambda rs: all(r.status == "delivered" for r in rs), timeout=30
        )
        assert {r.event: r.attempts for r in rows} == {"model.rolled_back": 1, "drift.alarm": 2}
        assert all(r["signed"] for r in receiver.requests)
    finally:
        receiver.close()


def _race(apps, sign_in) -> None:
    receiver = Receiver(SECRET)
    try:
        one, two = apps(), apps()  # two serving processes on one database
        client, headers = sign_in(one, role="admin")
        add_webhook(client, headers, receiver.url, ["srm.alarm"])
        with one.app_context():
            for i in range(30):
                notify("srm.alarm", {"n": i})
        ensure_deliverer(one), ensure_deliverer(two)
        rows = poll(lambda: _deliveries(one), lambda rs: all(r.status == "delivered" for r in rs), timeout=60)
        assert len(rows) == 30
        uids = [r["headers"]["X-Digitserve-Delivery"] for r in receiver.requests]
        assert sorted(uids) == sorted(r.uid for r in rows)  # each exactly once
        assert all(r.attempts == 1 for r in rows)
        owners = {r.lease_owner for r in rows}
        assert owners <= {
            notify_deliverer(one).owner,
            notify_deliverer(two).owner,
        }
    finally:
        receiver.close()


def test_two_deliverers_never_send_twice(apps, sign_in):
    _race(apps, sign_in)


@pytest.mark.postgres
def test_two_deliverers_never_send_twice_on_postgresql(apps, sign_in):
    with apps().app_context():
        assert db.engine.dialect.name == "postgresql"
    _race(apps, sign_in)


def test_alarm_reaches_webhook_and_admin_email(apps, sign_in, make_user):
    receiver, smtp = Receiver(SECRET), SmtpServer()
    try:
        app = apps(NOTIFY_DELIVERER=True, MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
        client, headers = sign_in(app, role="admin")
        from app.auth.services import create_user

        with app.app_context():
            create_user("alarmadmin", "correct-horse-1", role="admin", email="ops@example.com")
            create_user("alarmuser", "correct-horse-1", role="user", email="user@example.com")
        add_webhook(client, headers, receiver.url, ["drift.alarm"])
        with app.app_context():
            notify("drift.alarm", {"alias": "v2", "p_value": 0.0004})
            notify("srm.alarm", {"experiment": "v1-vs-v2"})  # email only: no webhook subscribed
        client.get("/admin/webhooks", headers=headers)  # a request starts the deliverer
        poll(lambda: receiver.events(), lambda e: e == ["drift.alarm"], timeout=30)
        assert receiver.requests[0]["body"]["data"] == {"alias": "v2", "p_value": 0.0004}
        messages = poll(lambda: smtp.messages, lambda m: len(m) == 2, timeout=30)
        assert all(m["to"] == ["ops@example.com"] for m in messages)
        subjects = sorted(
            line for m in messages for line in m["data"].splitlines() if line.startswith("Subject:")
        )
        assert subjects == ["Subject: [digitserve] drift.alarm", "Subject: [digitserve] srm.alarm"]
    finally:
        receiver.close()
        smtp.close()
