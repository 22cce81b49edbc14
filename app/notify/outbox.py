"""The stored outbox: enqueueing is one INSERT; a deliverer claims due rows with a conditional
UPDATE (so two deliverers never both send one row), sends, and records the outcome."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.filelock import nothing
from app.notify.mail import email_rows
from app.notify.models import Delivery, Webhook
from app.notify.send import send_delivery
from app.state import sqlite_write_lock
from app.timeutil import isoformat, utcnow

log = logging.getLogger(__name__)

EVENTS = ("retrain.finished", "model.promoted", "model.rolled_back", "drift.alarm", "srm.alarm")
TEST_EVENT = "webhook.test"
# Events that also go to the admins' email addresses (when MAIL_SERVER is set).
EMAIL_EVENTS = ("retrain.finished", "drift.alarm", "srm.alarm")


def webhook_body(uid: str, event: str, payload: dict) -> str:
    body = {"id": uid, "event": event, "created_at": isoformat(utcnow()), "data": payload}
    return json.dumps(body, default=str, separators=(",", ":"), sort_keys=True)


def _webhook_row(hook: Webhook, event: str, payload: dict) -> Delivery:
    uid = uuid.uuid4().hex
    return Delivery(
        uid=uid, kind="webhook", event=event, webhook_id=hook.id, body=webhook_body(uid, event, payload)
    )


def enqueue_test(hook: Webhook) -> Delivery:
    row = _webhook_row(hook, TEST_EVENT, {"webhook_id": hook.id, "message": "test delivery"})
    db.session.add(row)
    db.session.commit()
    return row


def notify(event: str, payload: dict) -> None:
    """Queue `event` for every webhook subscribed to it and, for EMAIL_EVENTS, every admin with an
    email address. Only INSERTs: never sends, never raises (a failure is logged)."""
    try:
        rows = [
            _webhook_row(h, event, payload) for h in db.session.scalars(select(Webhook)) if event in h.events
        ]
        if event in EMAIL_EVENTS and current_app.config.get("MAIL_SERVER"):
            rows += email_rows(event, payload)
        if rows:
            db.session.add_all(rows)
            db.session.commit()
    except Exception:  # noqa: BLE001 - a notification must never fail the request or job
        db.session.rollback()
        log.exception("could not queue notification %s", event)


def backoff_seconds(attempts: int, base: float, cap: float = 3600.0) -> float:
    """Exponential: base, 2*base, 4*base, ... after the 1st, 2nd, 3rd failed attempt."""
    return min(cap, base * 2 ** max(0, attempts - 1))


def claim(delivery_id: int, owner: str, lease_seconds: float) -> bool:
    """Take one due row: True only for the one deliverer whose UPDATE matched it."""
    now = utcnow()
    due = or_(
        and_(Delivery.status == "pending", Delivery.next_attempt_at <= now),
        # A deliverer that died mid-send: its lease expires and the row is taken over.
        and_(Delivery.status == "sending", Delivery.lease_until < now),
    )
    stmt = (
        update(Delivery)
        .where(Delivery.id == delivery_id, due)
        .values(
            status="sending",
            lease_owner=owner,
            lease_until=now + timedelta(seconds=lease_seconds),
            attempts=Delivery.attempts + 1,
            updated_at=now,
        )
    )
    return _write(stmt) == 1


def _write(stmt: Any, tries: int = 3) -> int:
    """Execute and commit one UPDATE (under the SQLite workers' write lock); rows matched.

    Retried on a transient OperationalError (SQLite busy): losing an outcome after a successful
    send would mean sending it again once the lease expires."""
    lock = sqlite_write_lock()
    for attempt in range(tries):
        try:
            with lock.hold() if lock is not None else nothing():
                result = db.session.execute(stmt)
                db.session.commit()
            return result.rowcount
        except OperationalError:
            db.session.rollback()
            if attempt == tries - 1:
                raise
    return 0


def record(delivery_id: int, owner: str, ok: bool, code: int | None, error: str | None) -> None:
    """The outcome of a claimed send; a row whose lease was taken over is left to its new owner."""
    cfg = current_app.config
    row = db.session.get(Delivery, delivery_id)
    if row is None or row.lease_owner != owner or row.status != "sending":
        db.session.rollback()
        return
    now = utcnow()
    values: dict[str, Any] = {
        "last_status_code": code,
        "last_error": error,
        "updated_at": now,
        "lease_until": None,
    }
    if ok:
        values.update(status="delivered", delivered_at=now, last_error=None)
    elif row.attempts >= cfg["NOTIFY_MAX_ATTEMPTS"]:
        values.update(status="failed")
    else:
        delay = backoff_seconds(row.attempts, cfg["NOTIFY_BACKOFF_SECONDS"])
        values.update(status="pending", next_attempt_at=now + timedelta(seconds=delay))
    db.session.commit()  # end the read before taking the write lock
    mine = (Delivery.id == delivery_id, Delivery.lease_owner == owner, Delivery.status == "sending")
    _write(update(Delivery).where(*mine).values(**values))


def due_ids(limit: int) -> list[int]:
    now = utcnow()
    stmt = (
        select(Delivery.id)
        .where(
            or_(
                and_(Delivery.status == "pending", Delivery.next_attempt_at <= now),
                and_(Delivery.status == "sending", Delivery.lease_until < now),
            )
        )
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    )
    ids = list(db.session.scalars(stmt))
    db.session.commit()  # end the read transaction: claims run in their own
    return ids


def deliver_due(owner: str) -> int:
    """One bounded tick (at most NOTIFY_BATCH rows): claim, send, record. Returns rows sent."""
    cfg = current_app.config
    sent = 0
    for delivery_id in due_ids(cfg["NOTIFY_BATCH"]):
        if not claim(delivery_id, owner, cfg["NOTIFY_LEASE_SECONDS"]):
            continue  # another deliverer has it
        row = db.session.get(Delivery, delivery_id)
        hook = db.session.get(Webhook, row.webhook_id) if row.webhook_id is not None else None
        item = {
            "uid": row.uid,
            "kind": row.kind,
            "event": row.event,
            "body": row.body,
            "recipient": row.recipient,
            "url": hook.url if hook else None,
            "secret": hook.secret if hook else None,
        }
        db.session.commit()  # no transaction stays open while the receiver answers
        ok, code, error = send_delivery(item)
        record(delivery_id, owner, ok, code, error)
        sent += 1
    return sent
