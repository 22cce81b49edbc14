from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, LargeBinary, String, false
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.timeutil import utcnow


class Prediction(db.Model):
    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    model_name: Mapped[str] = mapped_column(String(128))
    model_alias: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(32), index=True)
    ab_experiment: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ab_arm: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    predicted: Mapped[int] = mapped_column(Integer)
    probability: Mapped[float] = mapped_column(Float)
    probabilities: Mapped[list] = mapped_column(JSON)
    # The preprocessed 28x28 image as 784 uint8 bytes, so retraining sees exactly what was served.
    image: Mapped[bytes] = mapped_column(LargeBinary)
    image_sha256: Mapped[str] = mapped_column(String(64), index=True)
    latency_ms: Mapped[float] = mapped_column(Float)
    # Out-of-distribution flag and score (app/ml/ood.py); null score: stored before the detector.
    ood: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    ood_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
