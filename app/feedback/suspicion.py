"""Which new verdicts wait for an admin's review (issue 14, "clean labels").

Only a "wrong" verdict is ever flagged: it is the one that puts a label the model did not predict
into the training data. Two reasons, checked in this order:

- ``confident_contradiction``: the prediction's probability is at least REVIEW_CONFIDENCE;
- ``outlier_user``: the user's disagreement rate is improbably high next to everyone else's.

The outlier test is a one-sided exact binomial test: with the other users' disagreement rate p
(Laplace-smoothed, (k + 1) / (n + 2), so an empty or spotless population is not a rate of 0),
how likely is it that a user with n verdicts disagrees k times or more? Below
REVIEW_OUTLIER_ALPHA, with at least REVIEW_MIN_VERDICTS verdicts of the user's and as many of
the other users', the user is an outlier.
A binomial tail rather than a z-score of per-user rates: it weighs a user's evidence by their
count (3 of 3 wrong is weak, 30 of 30 is not) without any normal approximation, and it needs
only the population's totals, which one aggregate query gives.
"""

from __future__ import annotations

from typing import Any

from scipy.stats import binom
from sqlalchemy import case, func, select, update

from app.extensions import db
from app.feedback.models import COUNTED_FEEDBACK, Feedback
from app.predict.models import Prediction

CONFIDENT_CONTRADICTION = "confident_contradiction"
OUTLIER_USER = "outlier_user"


def flag_reason(pred: Prediction, user_id: int, correct: bool, cfg: Any) -> str | None:
    """Why the verdict `correct` of `user_id` on `pred` must be reviewed, or None."""
    if correct:
        return None
    if pred.probability is not None and pred.probability >= cfg["REVIEW_CONFIDENCE"]:
        return CONFIDENT_CONTRADICTION
    if is_outlier(user_id, pred.id, cfg["REVIEW_MIN_VERDICTS"], cfg["REVIEW_OUTLIER_ALPHA"]):
        return OUTLIER_USER
    return None


def disagreement_counts(user_id: int, prediction_id: int) -> tuple[int, int, int, int]:
    """(user's verdicts, user's disagreements, others' verdicts, others' disagreements) over the
    counted feedback, leaving out any earlier verdict on `prediction_id` (it is being replaced).
    One aggregate query."""
    mine = Feedback.user_id == user_id
    wrong = Feedback.correct.is_(False)
    row = db.session.execute(
        select(
            func.sum(case((mine, 1), else_=0)),
            func.sum(case((mine & wrong, 1), else_=0)),
            func.sum(case((~mine, 1), else_=0)),
            func.sum(case((~mine & wrong, 1), else_=0)),
        )
        .select_from(Feedback)
        .join(Prediction, COUNTED_FEEDBACK)
        .where(Feedback.prediction_id != prediction_id)
    ).one()
    n_user, k_user, n_rest, k_rest = (int(v or 0) for v in row)
    return n_user, k_user, n_rest, k_rest


def is_outlier(user_id: int, prediction_id: int, min_verdicts: int, alpha: float) -> bool:
    """Is the user, counting this new disagreement, an outlier? (See the module's docstring.)"""
    n_user, k_user, n_rest, k_rest = disagreement_counts(user_id, prediction_id)
    n, k = n_user + 1, k_user + 1
    # Too few of their own verdicts to judge, or too few of everyone else's to compare with (the
    # first user of a deployment is nobody's outlier).
    if n < min_verdicts or n_rest < min_verdicts:
        return False
    p_rest = (k_rest + 1) / (n_rest + 2)
    return float(binom.sf(k - 1, n, p_rest)) < alpha


def flag_user_history(user_id: int) -> int:
    """An outlier's earlier, never-reviewed disagreements are as suspicious as the new one: queue
    them too (decided ones stay decided). Returns how many were queued."""
    result = db.session.execute(
        update(Feedback)
        .where(
            Feedback.user_id == user_id,
            Feedback.correct.is_(False),
            Feedback.review == "none",
            Feedback.prediction_id.is_not(None),
        )
        .values(review="pending", review_reason=OUTLIER_USER)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return int(result.rowcount or 0)
