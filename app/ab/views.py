from __future__ import annotations

from flask import Response, current_app, g
from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from app.ab.phases import note_change
from app.ab.schemas import AbSettingsSchema
from app.ab.service import AbConfig, Arm, choose_arm, current_config, save_config, validate_arms
from app.apidoc import doc_only
from app.auth.decorators import BEARER, admin_required, login_required
from app.errors import ApiError
from app.extensions import limiter
from app.predict.http import error_docs, predict_one, prediction_response, version_limit, version_scope
from app.predict.schemas import ImageUploadSchema, PredictionSchema
from app.predict.service import AbChoice
from app.state import model_store

blp = Blueprint("ab", __name__, description="A/B testing between model versions")


def _choice() -> AbChoice:
    """The arm for this request, chosen once and reused by the rate limit and the view."""
    if "ab_choice" not in g:
        config, arm = choose_arm(current_user.id)
        g.ab_choice = AbChoice(config.experiment, arm)
    return g.ab_choice


@blp.route("/api/ab/predict", methods=["POST"])
@login_required
# Counted against the chosen version's own limit, shared with /api/<version>/predict.
@limiter.shared_limit(
    lambda: version_limit(_choice().arm), scope=lambda _endpoint: version_scope(_choice().arm)
)
@doc_only(
    blp.arguments(ImageUploadSchema, location="files"),
    blp.response(200, PredictionSchema),
    error_docs(blp),
    blp.doc(security=BEARER),
)
def ab_predict() -> Response:
    """Predict with the A/B arm assigned to the caller; says which arm served (`ab_version`)."""
    choice = _choice()
    return prediction_response(predict_one(choice.arm, ab=choice))


@blp.route("/admin/ab", methods=["GET"])
@admin_required
@blp.response(200, AbSettingsSchema)
@blp.doc(security=BEARER)
def get_ab():
    """Current A/B settings (admin)."""
    return current_config().to_dict()


@blp.route("/admin/ab", methods=["PUT"])
@admin_required
@blp.arguments(AbSettingsSchema)
@blp.response(200, AbSettingsSchema)
@blp.alt_response(422, description="Negative weights, zero sum, or an alias not in the registry")
@blp.doc(security=BEARER)
def put_ab(data: dict):
    """Change the arms, weights, mode or experiment at run time (admin). Any change starts a new
    phase of the experiment; /admin/report analyses the current phase."""
    current = current_config()
    arms = tuple(Arm(a["alias"], float(a["weight"])) for a in data["arms"])

    def invalid(message: str) -> ApiError:
        return ApiError(422, message, "invalid_ab_settings")

    validate_arms(arms, invalid)
    known = set(model_store().aliases())
    unknown = sorted({a.alias for a in arms} - known)
    if unknown:
        raise invalid(f"Unknown model aliases {unknown}; registered aliases: {sorted(known)}")
    config = AbConfig(data.get("experiment") or current.experiment, data.get("mode") or current.mode, arms)
    current_app.logger.info("A/B settings changed by user %s: %s", current_user.id, config.to_dict())
    note_change(current, config, current_user.id)  # new weights or mode: a new experiment phase
    return save_config(config, current_user.id).to_dict()
