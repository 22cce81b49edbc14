from __future__ import annotations

from flask import url_for
from flask_jwt_extended import current_user
from flask_smorest import Blueprint
from sqlalchemy import select

from app.auth.decorators import BEARER, admin_required
from app.errors import ApiError
from app.extensions import db
from app.pagination import paginate
from app.rollout import evidence
from app.rollout.models import ACTIVE_STAGES, Rollout
from app.rollout.schemas import RolloutListArgs, RolloutPageSchema, RolloutRequestSchema, RolloutSchema
from app.rollout.service import cancel_rollout, start_rollout
from app.security import DB_INT_MAX

blp = Blueprint(
    "rollout", __name__, url_prefix="/admin", description="Shadow scoring and staged rollouts (admin)"
)


def _with_evidence(rollout: Rollout) -> Rollout:
    # Answered, not stored: RolloutSchema reads it beside the row's own fields.
    rollout.evidence = evidence.gather(rollout).to_dict(float(rollout.thresholds["alpha"]))
    return rollout


def _get(rollout_id: int) -> Rollout:
    rollout = db.session.get(Rollout, rollout_id) if rollout_id <= DB_INT_MAX else None
    if rollout is None:
        raise ApiError(404, f"Rollout {rollout_id} does not exist.", "rollout_not_found")
    return rollout


@blp.route("/rollouts", methods=["POST"])
@admin_required
@blp.arguments(RolloutRequestSchema)
@blp.response(201, RolloutSchema)
@blp.alt_response(
    409,
    description="The alias has an active rollout (details.rollout_id), or a retrain will promote "
    "into it (retrain_in_progress, details.job_id)",
)
@blp.alt_response(422, description="Unknown alias or version, the version the alias serves, bad thresholds")
@blp.alt_response(503, description="The model registry is unreachable; nothing was started")
@blp.doc(security=BEARER)
def create(data: dict):
    """Start shadowing a candidate version on an alias; it then advances by itself
    (shadow -> canary -> full -> promoted) or rolls back, on the paired evidence."""
    rollout = start_rollout(
        data["alias"],
        data["version"],
        created_by=current_user.id,
        canary_share=data.get("canary_share"),
        thresholds=data["thresholds"],
    )
    location = url_for("rollout.get_rollout", rollout_id=rollout.id)
    return _with_evidence(rollout), 201, {"Location": location}


@blp.route("/rollouts", methods=["GET"])
@admin_required
@blp.arguments(RolloutListArgs, location="query")
@blp.response(200, RolloutPageSchema)
@blp.doc(security=BEARER)
def list_rollouts(args: dict):
    """Rollouts, newest first, paginated, each with its evidence (filters: alias, active)."""
    stmt = select(Rollout).order_by(Rollout.id.desc())
    if args["alias"]:
        stmt = stmt.where(Rollout.alias == args["alias"])
    if args["active"] is not None:
        active = Rollout.stage.in_(ACTIVE_STAGES)
        stmt = stmt.where(active if args["active"] else ~active)
    page = paginate(stmt, args)
    page["items"] = [_with_evidence(r) for r in page["items"]]
    return page


@blp.route("/rollouts/<int:rollout_id>", methods=["GET"])
@admin_required
@blp.response(200, RolloutSchema)
@blp.alt_response(404, description="No such rollout")
@blp.doc(security=BEARER)
def get_rollout(rollout_id: int):
    """A rollout's stage, history and evidence: agreement rate, paired counts, e-values."""
    return _with_evidence(_get(rollout_id))


@blp.route("/rollouts/<int:rollout_id>/cancel", methods=["POST"])
@admin_required
@blp.response(200, RolloutSchema)
@blp.alt_response(404, description="No such rollout")
@blp.alt_response(409, description="The rollout is over already")
@blp.doc(security=BEARER)
def cancel(rollout_id: int):
    """Stop a rollout; from the full stage the alias moves back to the baseline version."""
    return _with_evidence(cancel_rollout(_get(rollout_id), current_user.id))
