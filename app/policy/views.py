from __future__ import annotations

from typing import Any

from flask import current_app
from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from app.auth.decorators import BEARER, admin_required
from app.errors import ApiError
from app.policy.lease import holder_of
from app.policy.scheduler import LEASE_NAME
from app.policy.schemas import PolicySchema
from app.policy.service import current_policy, policy_dict, save_policy
from app.retrain.views import validate_request

blp = Blueprint("policy", __name__, url_prefix="/admin", description="Retrain policy (admin)")

TRIGGERS = ("min_new_labels", "interval_seconds", "on_drift_alarm", "accuracy_drop")


def _answer(row: Any) -> dict[str, Any]:
    lease = holder_of(LEASE_NAME)
    state = {"holder": lease[0], "expires_at": lease[1]} if lease else {"holder": None, "expires_at": None}
    return {**policy_dict(row), "scheduler": state}


@blp.route("/retrain/policy", methods=["GET"])
@admin_required
@blp.response(200, PolicySchema)
@blp.doc(security=BEARER)
def get_policy():
    """The retrain policy: when the scheduler starts a retrain by itself."""
    return _answer(current_policy())


@blp.route("/retrain/policy", methods=["PUT"])
@admin_required
@blp.arguments(PolicySchema)
@blp.response(200, PolicySchema)
@blp.alt_response(422, description="Unknown keys, bad values, no trigger while enabled, unknown alias")
@blp.alt_response(503, description="The model registry is unreachable (the job's alias cannot be checked)")
@blp.doc(security=BEARER)
def put_policy(data: dict[str, Any]):
    """Change the policy; omitted keys keep their value, null turns a trigger off."""
    merged = {**policy_dict(current_policy()), **data}
    if merged["enabled"] and not any(merged[key] for key in TRIGGERS):
        raise ApiError(
            422, f"An enabled policy needs at least one trigger: {', '.join(TRIGGERS)}.", "invalid_policy"
        )
    if "job" in data:
        validate_request(dict(data["job"]))  # the base alias exists, the hyper-parameters suit
    row = save_policy(merged, current_user.id)
    current_app.logger.info("retrain policy changed by user %s: %s", current_user.id, data)
    return _answer(row)
