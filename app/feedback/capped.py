"""The per-user cap on counted feedback (FEEDBACK_USER_CAP): within each group (an A/B arm, a
model version) only a user's first `cap` counted verdicts weigh; later ones are kept but not
counted. One user - honest, prolific or hostile - can then move a posterior or a report figure
by no more than `cap` verdicts' worth. Computed in SQL (a window function, SQLite >= 3.25 and
PostgreSQL), so no per-verdict Python work on the request path."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import Subquery, func, select

from app.feedback.models import COUNTED_FEEDBACK, Feedback
from app.predict.models import Prediction


def feedback_user_cap() -> int:
    return int(current_app.config["FEEDBACK_USER_CAP"])


def capped_verdicts(key: Any, *where: Any, cap: int | None = None) -> Subquery:
    """Counted verdicts, each user's first `cap` per `key` (by feedback id), as a subquery with
    columns key, user_id, correct, label, predicted, created_at."""
    cap = feedback_user_cap() if cap is None else cap
    rank = func.row_number().over(partition_by=(key, Feedback.user_id), order_by=Feedback.id).label("rank")
    ranked = (
        select(
            key.label("key"),
            Feedback.user_id.label("user_id"),
            Feedback.correct.label("correct"),
            Feedback.label.label("label"),
            Prediction.predicted.label("predicted"),
            Feedback.created_at.label("created_at"),
            rank,
        )
        .select_from(Feedback)
        .join(Prediction, COUNTED_FEEDBACK)
        .where(*where)
        .subquery("ranked")
    )
    return select(ranked).where(ranked.c.rank <= cap).subquery("capped")
