"""The feedback a retrain learns from: trainable verdicts (TRAINABLE_FEEDBACK: counted, labelled,
never flagged or accepted by an admin), at most FEEDBACK_USER_CAP per user.

The cap keeps a user's newest verdicts. The newest judge the models served now, so they carry
the mistakes a retrain should fix; they are the user's current behaviour (a verdict replaced
later is newer); and "newest N" is one window function, the same on SQLite and PostgreSQL. A
spread over the user's history would keep old labels about models long replaced.
"""

from __future__ import annotations

from sqlalchemy import Select, func, select

from app.feedback.models import TRAINABLE_FEEDBACK, Feedback
from app.predict.models import Prediction


def training_feedback(cap: int | None) -> Select:
    """(id, label, created_at, image) of the training feedback, oldest first; `cap` None or < 1:
    no per-user cap."""
    stmt = select(Feedback.id, Feedback.label, Feedback.created_at, Prediction.image).join(
        Prediction, TRAINABLE_FEEDBACK
    )
    if cap is not None and cap > 0:
        rank = (
            func.row_number()
            .over(partition_by=Feedback.user_id, order_by=(Feedback.created_at.desc(), Feedback.id.desc()))
            .label("rank")
        )
        ranked = select(Feedback.id.label("fid"), rank).join(Prediction, TRAINABLE_FEEDBACK).subquery()
        stmt = stmt.join(ranked, ranked.c.fid == Feedback.id).where(ranked.c.rank <= cap)
    return stmt.order_by(Feedback.created_at, Feedback.id)
