"""Email through Flask-Mail (MAIL_* settings): messages are outbox rows like webhooks."""

from __future__ import annotations

import json
import smtplib
import uuid

from flask import current_app
from flask_mail import Connection, Mail, Message
from sqlalchemy import select

from app.auth.models import User
from app.extensions import db
from app.notify.models import Delivery

mail = Mail()


class _TimedConnection(Connection):
    """Flask-Mail's connection with a socket timeout: a stalled SMTP server fails the attempt."""

    def configure_host(self) -> smtplib.SMTP:
        cls = smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP
        host = cls(self.mail.server, self.mail.port, timeout=current_app.config["NOTIFY_SMTP_TIMEOUT"])
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host


def _figure(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def compose(event: str, payload: dict) -> tuple[str, str]:
    """(subject, text) for an event."""
    if event == "retrain.finished":
        status = payload.get("status")
        subject = f"[digitserve] retrain job {payload.get('id')} {status}"
        keys = (
            "status",
            "trigger",
            "promoted",
            "new_accuracy",
            "baseline_accuracy",
            "registered_version",
            "decision",
            "error",
        )
        lines = [f"{k}: {_figure(payload.get(k))}" for k in keys if payload.get(k) is not None]
        metrics = payload.get("metrics") or {}
        lines += [f"metrics.{k}: {_figure(v)}" for k, v in sorted(metrics.items())]
        return subject, "A retrain finished.\n\n" + "\n".join(lines) + "\n"
    text = json.dumps(payload, indent=2, sort_keys=True, default=str)
    return f"[digitserve] {event}", f"Event {event}:\n\n{text}\n"


def email_rows(event: str, payload: dict) -> list[Delivery]:
    """One outbox row per active admin with an email address."""
    subject, text = compose(event, payload)
    body = json.dumps({"subject": subject, "text": text})
    admins = db.session.scalars(
        select(User).where(
            User.role == "admin", User.active.is_(True), User.email.is_not(None), User.email != ""
        )
    )
    return [
        Delivery(uid=uuid.uuid4().hex, kind="email", event=event, recipient=user.email, body=body)
        for user in admins
    ]


def send_email(recipient: str, body: str) -> tuple[bool, int | None, str | None]:
    if not current_app.config.get("MAIL_SERVER"):
        return False, None, "MAIL_SERVER is not set"
    content = json.loads(body)
    message = Message(
        subject=content["subject"],
        recipients=[recipient],
        body=content["text"],
        sender=current_app.config.get("MAIL_DEFAULT_SENDER") or "digitserve@localhost",
    )
    try:
        state = current_app.extensions["mail"]
        with _TimedConnection(state) as connection:
            message.send(connection)
    except Exception as exc:  # noqa: BLE001 - refused, timed out, rejected: a failed attempt
        return False, None, f"{type(exc).__name__}: {exc}"[:500]
    return True, None, None
