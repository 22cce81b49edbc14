"""The review queue: list flagged verdicts, record an admin's decision."""

from __future__ import annotations

from sqlalchemy import Select, select, update

from app.errors import ApiError
from app.extensions import db
from app.feedback.models import Feedback
from app.timeutil import utcnow

DECIDED = {"accept": "accepted", "reject": "rejected"}
# feedback.id is an INTEGER column: no row has a larger id, and PostgreSQL would refuse (not just
# miss) a larger one in a comparison; so larger ids are "not found" without asking.
FEEDBACK_ID_MAX = 2**31 - 1


def review_query(status: str) -> Select:
    """Flagged verdicts in `status` ("all": every flagged one): the queue oldest first (first
    come, first judged), decided ones most recently decided first."""
    stmt = select(Feedback).where(Feedback.prediction_id.is_not(None))
    if status == "all":
        return stmt.where(Feedback.review != "none").order_by(Feedback.id.desc())
    stmt = stmt.where(Feedback.review == status)
    if status == "pending":
        return stmt.order_by(Feedback.id)
    return stmt.order_by(Feedback.reviewed_at.desc(), Feedback.id.desc())


def decide(feedback_id: int, decision: str, admin_id: int) -> Feedback:
    """Accept or reject a pending verdict. Repeating the decision it already has answers it
    unchanged (a double click, a retried request); anything else not pending is 409."""
    fb = db.session.get(Feedback, feedback_id) if feedback_id <= FEEDBACK_ID_MAX else None
    if fb is None:
        raise ApiError(404, f"Feedback {feedback_id} does not exist.", "feedback_not_found")
    state = DECIDED[decision]
    # Conditional on "pending" in the database: of two admins deciding at once, one wins.
    result = db.session.execute(
        update(Feedback)
        .where(Feedback.id == feedback_id, Feedback.review == "pending")
        .values(review=state, reviewed_by=admin_id, reviewed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.refresh(fb)
    if result.rowcount == 1 or fb.review == state:
        return fb
    if fb.review == "none":
        raise ApiError(409, f"Feedback {feedback_id} is not waiting for review.", "not_pending")
    raise ApiError(409, f"Feedback {feedback_id} was already {fb.review}.", "already_reviewed")
