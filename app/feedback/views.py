from __future__ import annotations

import logging

from flask_jwt_extended import current_user
from flask_smorest import Blueprint
from sqlalchemy import select

from app.auth.decorators import BEARER, login_required
from app.extensions import db
from app.feedback.models import Feedback
from app.feedback.schemas import FeedbackInSchema, FeedbackListArgs, FeedbackOutSchema, FeedbackPageSchema
from app.feedback.service import submit
from app.metrics import record_feedback
from app.pagination import paginate
from app.realtime import notify_feedback_received
from app.state import after_feedback_hooks

log = logging.getLogger(__name__)

blp = Blueprint("feedback", __name__, url_prefix="/feedback", description="Verdicts on predictions")


@blp.route("", methods=["POST"])
@login_required
@blp.arguments(FeedbackInSchema)
@blp.response(201, FeedbackOutSchema)
@blp.alt_response(200, schema=FeedbackOutSchema, description="Replaced an earlier verdict on the prediction")
@blp.alt_response(403, description="The prediction belongs to another user")
@blp.alt_response(404, description="No such prediction")
@blp.alt_response(422, description="Validation failed (correct must be boolean, label 0-9 when wrong, ...)")
@blp.doc(security=BEARER)
def post_feedback(data: dict):
    """Tie a verdict to a prediction id; wrong answers carry the true label (used for retraining)."""
    fb, replaced = submit(current_user, data)
    # Answered, not stored: FeedbackOutSchema reads them beside the row's own fields.
    fb.replaced = replaced
    if fb.prediction_id is None:
        fb.message = (
            "Stored as unverified without a prediction_id: not counted in reports or A/B results, "
            "and not usable for retraining. Send the prediction_id from your predict response."
        )
    elif replaced:
        fb.message = "Replaced your earlier feedback on this prediction."
    else:
        fb.message = "Feedback stored."
    if fb.review == "pending":
        fb.message += " It waits for an admin's review before it is used for retraining."
    _notify(fb, replaced)
    _after_feedback()
    return fb, 200 if replaced else 201


def _after_feedback() -> None:
    # Features that act on new verdicts (app/rollout advances its rollouts on them). The verdict
    # is committed already: a failing hook is logged, never the client's answer.
    for hook in after_feedback_hooks():
        try:
            hook()
        except Exception:  # noqa: BLE001
            db.session.rollback()
            log.exception("after-feedback hook %s failed", getattr(hook, "__name__", hook))


def _notify(fb: Feedback, replaced: bool) -> None:
    record_feedback(fb.model_version or "unknown", fb.correct)
    notify_feedback_received(
        {
            "feedback_id": fb.id,
            "prediction_id": fb.prediction_id,
            "version": fb.model_version,
            "ab_arm": fb.ab_arm,
            "correct": fb.correct,
            "label": fb.label,
            "user_id": fb.user_id,
            "replaced": replaced,
        }
    )


@blp.route("", methods=["GET"])
@login_required
@blp.arguments(FeedbackListArgs, location="query")
@blp.response(200, FeedbackPageSchema)
@blp.doc(security=BEARER)
def list_feedback(args: dict):
    """The caller's own feedback, newest first, paginated (admins: mine=0 lists everyone's)."""
    stmt = select(Feedback).order_by(Feedback.id.desc())
    if args["mine"] or not current_user.is_admin:
        stmt = stmt.where(Feedback.user_id == current_user.id)
    return paginate(stmt, args)
