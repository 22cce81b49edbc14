from __future__ import annotations

from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from app.auth.decorators import BEARER, admin_required
from app.pagination import paginate
from app.review.schemas import ReviewDecisionSchema, ReviewItemSchema, ReviewListArgs, ReviewPageSchema
from app.review.service import decide, review_query

blp = Blueprint("review", __name__, url_prefix="/admin", description="Label review (admin)")


@blp.route("/review", methods=["GET"])
@admin_required
@blp.arguments(ReviewListArgs, location="query")
@blp.response(200, ReviewPageSchema)
@blp.alt_response(422, description="Unknown status or bad page arguments")
@blp.doc(security=BEARER)
def list_review(args: dict):
    """Flagged verdicts (default: the pending queue, oldest first), paginated, with the judged image."""
    return paginate(review_query(args["status"]), args)


@blp.route("/review/<int:feedback_id>", methods=["POST"])
@admin_required
@blp.arguments(ReviewDecisionSchema)
@blp.response(200, ReviewItemSchema)
@blp.alt_response(404, description="No such feedback")
@blp.alt_response(409, description="Not pending: never flagged, or already decided otherwise")
@blp.alt_response(422, description="decision is not accept or reject")
@blp.doc(security=BEARER)
def decide_review(data: dict, feedback_id: int):
    """Accept (the label may train) or reject (it never trains and counts nowhere) a pending verdict."""
    return decide(feedback_id, data["decision"], current_user.id)
