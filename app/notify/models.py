"""Webhook subscriptions and the notification outbox (webhook deliveries and emails)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.timeutil import utcnow

# Outbox row states: pending (due at next_attempt_at) -> sending (claimed, lease_until) ->
# delivered | pending again (retry) | failed (attempts exhausted).
DELIVERY_STATUSES = ("pending", "sending", "delivered", "failed")


class Webhook(db.Model):
    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list] = mapped_column(JSON)
    # Kept as given: the deliverer needs it to sign every body. Never returned by the API.
    secret: Mapped[str] = mapped_column(String(255))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)



class Delivery(db.Model):
    """One message to send: a signed webhook POST (kind "webhook") or an email (kind "email").

    Stored before anything is sent, so it survives a restart; claimed by one deliverer at a time.
    """

    __tablename__ = "notification_outbox"
    __table_args__ = (Index("ix_notification_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)  # the X-Digitserve-Delivery header
    kind: Mapped[str] = mapped_column(String(16))
    event: Mapped[str] = mapped_column(String(64))
    webhook_id: Mapped[int | None] = mapped_column(ForeignKey("webhooks.id"), nullable=True, index=True)
    recipient: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Webhooks: the exact JSON bytes that are signed and sent (every retry sends the same body).
    # Emails: JSON {"subject", "text"}.
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

