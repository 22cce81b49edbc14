from __future__ import annotations

from flask_smorest import Blueprint

from app.auth.decorators import BEARER, admin_required
from app.errors import ApiError
from app.ml import registry
from app.ml.errors import ModelNotFound
from app.monitoring.alarms import monitoring_report
from app.monitoring.schemas import MonitoringArgs, MonitoringSchema

blp = Blueprint("monitoring", __name__, url_prefix="/admin", description="Drift and estimated accuracy")


@blp.route("/monitoring", methods=["GET"])
@admin_required
@blp.arguments(MonitoringArgs, location="query")
@blp.response(200, MonitoringSchema)
@blp.alt_response(404, description="No model version has this alias")
@blp.alt_response(422, description="Bad alias or since")
@blp.alt_response(503, description="The alias has no loadable model")
@blp.doc(security=BEARER)
def monitoring(args: dict):
    """Per alias, over its recent window: input drift against the version's reference (MMD
    permutation test and chi-square on predicted classes, with an alarm), the accuracy estimated
    from calibrated confidence, and the feedback accuracy of the same window. Cached for
    MONITORING_CACHE_SECONDS."""
    if args["alias"] is not None:
        try:
            registry.registry_alias(args["alias"])  # a name the registry cannot hold: 422, not a lookup
        except ValueError:
            raise ApiError(422, f"{args['alias']!r} is not an alias name.", "invalid_alias") from None
    try:
        return monitoring_report(args["alias"], args["since"])
    except ModelNotFound:  # asked about an alias the registry does not have: the client's mistake
        raise ApiError(404, f"No model version has alias {args['alias']!r}.", "alias_not_found") from None
