from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, and_
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.predict.models import Prediction
from app.timeutil import utcnow


class Feedback(db.Model):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Unique: a second verdict on a prediction replaces the first. NULL (legacy feedback
    # without an id) may repeat on SQLite and PostgreSQL alike.
    prediction_id: Mapped[int | None] = mapped_column(
        ForeignKey("predictions.id"), unique=True, nullable=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    correct: Mapped[bool] = mapped_column(Boolean)
    label: Mapped[int | None] = mapped_column(Integer, nullable=True)
    predicted: Mapped[int | None] = mapped_column(Integer, nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    source: Mapped[str] = mapped_column(String(16), default="api")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    prediction: Mapped[Prediction | None] = relationship(Prediction, lazy="joined")

    # Read by FeedbackOutSchema: the judged prediction's version and arm, and the counting rule
    # (COUNTED_FEEDBACK below) applied to this one row.
    @property
    def model_version(self) -> str | None:
        return self.prediction.model_version if self.prediction else None

    @property
    def ab_arm(self) -> str | None:
        return self.prediction.ab_arm if self.prediction else None

    @property
    def counted(self) -> bool:
        return self.prediction is not None and self.prediction.user_id == self.user_id

    @property
    def usable_for_training(self) -> bool:
        return self.counted and self.label is not None


# The one rule for which feedback counts anywhere (report, A/B bandit, retraining): a verdict on a
# stored prediction, given by the user that prediction belongs to. Legacy verdicts without a
# prediction id (or any row that breaks the rule) are kept but never counted, so nobody can move
# the figures or the training data with verdicts on predictions they never made.
COUNTED_FEEDBACK = and_(Feedback.prediction_id == Prediction.id, Feedback.user_id == Prediction.user_id)
