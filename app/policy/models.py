"""The retrain policy (one row) and the scheduler leases (one row per periodic duty)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.timeutil import utcnow


class RetrainPolicy(db.Model):
    """When the scheduler starts a retrain by itself. Absent: no policy (nothing is started).

    Kept in the database so every process (and host) evaluates the same policy."""

    __tablename__ = "retrain_policy"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Each trigger is off when NULL (or False for the drift alarm).
    min_new_labels: Mapped[int | None] = mapped_column(Integer, nullable=True)
    interval_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    on_drift_alarm: Mapped[bool] = mapped_column(Boolean, default=False)
    accuracy_drop: Mapped[float | None] = mapped_column(Float, nullable=True)
    cooldown_seconds: Mapped[int] = mapped_column(Integer, default=3600)
    # The job a policy starts: {"base", "promote_to", "family", "epochs", "learning_rate"}.
    job_options: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SchedulerLease(db.Model):
    """Who runs a periodic duty right now: the holder renews before expires_at, anyone may take an
    expired lease. One atomic UPDATE decides (app/policy/lease.py), on SQLite and PostgreSQL."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(DateTime)
