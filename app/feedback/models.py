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
    # Label review (app/feedback/suspicion.py flags, app/review decides): "none" (never flagged),
    # "pending" (flagged, waiting for an admin), "accepted", "rejected". See REVIEW_STATES below.
    review: Mapped[str] = mapped_column(String(16), default="none", server_default="none", index=True)
    review_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

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
        return (
            self.prediction is not None
            and self.prediction.user_id == self.user_id
            and self.review != "rejected"
        )

    @property
    def usable_for_training(self) -> bool:
        return self.counted and self.label is not None and self.review in TRAINING_REVIEW_STATES


# The one rule for which feedback counts anywhere (report, A/B bandit, retraining): a verdict on a
# stored prediction, given by the user that prediction belongs to. Legacy verdicts without a
# prediction id (or any row that breaks the rule) are kept but never counted, so nobody can move
# the figures or the training data with verdicts on predictions they never made.
# An admin's rejection (app/review) takes a verdict out of everything, like a legacy one.
COUNTED_FEEDBACK = and_(
    Feedback.prediction_id == Prediction.id,
    Feedback.user_id == Prediction.user_id,
    Feedback.review != "rejected",
)

REVIEW_STATES = ("none", "pending", "accepted", "rejected")
# Counted verdicts that may train: a flagged ("pending") label waits for an admin's accept. Pending
# ones still count in the report and the bandit: the flag is a suspicion, not a finding, and the
# flagged verdicts are mostly the model's confident mistakes, which the figures must not hide.
TRAINING_REVIEW_STATES = ("none", "accepted")
TRAINABLE_FEEDBACK = and_(
    COUNTED_FEEDBACK, Feedback.label.is_not(None), Feedback.review.in_(TRAINING_REVIEW_STATES)
)
