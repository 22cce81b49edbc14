from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.timeutil import utcnow


class MonitoringState(db.Model):
    """The last drift verdict per alias. Stored (not per process) so that the quiet -> alarm
    transition, and its one `drift.alarm` notification, is decided once across workers and
    restarts."""

    __tablename__ = "monitoring_state"

    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    alarm: Mapped[bool] = mapped_column(Boolean, default=False)
    p_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    estimated_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    window_n: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    checked_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
