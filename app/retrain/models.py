from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.ml.registry import BASE_ALIAS
from app.timeutil import utcnow

ACTIVE_STATUSES = ("queued", "running")
LOCK_VALUE = "retrain"


class RetrainJob(db.Model):
    __tablename__ = "retrain_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    # "retrain" while queued/running, NULL after: the unique constraint makes the database
    # refuse a second active job, whichever worker or process tries to insert it.
    active_lock: Mapped[str | None] = mapped_column(String(16), unique=True, nullable=True)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    step: Mapped[str | None] = mapped_column(String(128), nullable=True)
    mlflow_experiment_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    registered_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    promoted: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    decision: Mapped[str | None] = mapped_column(Text, nullable=True)
    new_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    baseline_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    # What started the job: "admin:<username>" or "policy:<trigger> (<why>)" (app/policy).
    trigger: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Which process runs the job, and when it last said so: a job whose heartbeat is stale
    # belonged to a process that died (the recovery at start-up marks it interrupted).
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    @property
    def target_alias(self) -> str:
        """The alias the job promotes to: ``promote_to``, else its base."""
        params = self.params or {}
        return params.get("promote_to") or params.get("base", BASE_ALIAS)

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to finish, once both are known."""
        if self.started_at and self.finished_at:
            return round((self.finished_at - self.started_at).total_seconds(), 3)
        return None
