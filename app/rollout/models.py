"""A staged rollout of a candidate version for one alias, and the candidate's shadow answers.

No import of app.predict here (the predict path imports this module): the foreign key and the
relationship name the predictions table and class as strings.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.timeutil import utcnow

ACTIVE_STAGES = ("shadow", "canary", "full")
FINAL_STAGES = ("promoted", "rolled_back", "cancelled")
STAGES = ACTIVE_STAGES + FINAL_STAGES


class Rollout(db.Model):
    __tablename__ = "rollouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), index=True)
    candidate_version: Mapped[str] = mapped_column(String(32))
    baseline_version: Mapped[str] = mapped_column(String(32))
    stage: Mapped[str] = mapped_column(String(16), default="shadow", index=True)
    # The alias while the rollout is active, NULL after: the unique constraint makes the database
    # refuse a second active rollout of one alias, whichever worker inserts it.
    active_lock: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    canary_share: Mapped[float] = mapped_column(Float)
    thresholds: Mapped[dict] = mapped_column(JSON, default=dict)
    history: Mapped[list] = mapped_column(JSON, default=list)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    source: Mapped[str] = mapped_column(String(16), default="api")
    retrain_job_id: Mapped[int | None] = mapped_column(ForeignKey("retrain_jobs.id"), nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    stage_changed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    @property
    def active(self) -> bool:
        return self.stage in ACTIVE_STAGES


class ShadowPrediction(db.Model):
    """The answer of the version that did NOT serve a prediction (never returned to the client).

    In the shadow stage that is the candidate; when the candidate serves (canary share, full
    stage) it is the baseline, so every prediction of a rollout is a pair on the same image.
    """

    __tablename__ = "shadow_predictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prediction_id: Mapped[int] = mapped_column(ForeignKey("predictions.id"), unique=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id"), index=True)
    version: Mapped[str] = mapped_column(String(32))
    predicted: Mapped[int] = mapped_column(Integer)
    probability: Mapped[float] = mapped_column(Float)
    stage: Mapped[str] = mapped_column(String(16))

    prediction = relationship("Prediction", lazy="select")
