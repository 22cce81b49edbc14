from __future__ import annotations

from flask import current_app, url_for
from flask_jwt_extended import current_user
from flask_smorest import Blueprint
from sqlalchemy import select

from app.auth.decorators import BEARER, admin_required
from app.errors import ApiError
from app.extensions import db
from app.ml.families import FAMILIES, resolve_hyperparams
from app.ml.retrain import request_hyperparams
from app.pagination import PageArgs, paginate
from app.retrain import runner
from app.retrain.jobs import create_job, reap_if_stale, reap_stale
from app.retrain.models import RetrainJob
from app.retrain.schemas import JobPageSchema, JobSchema, QueuedSchema, RetrainRequestSchema
from app.security import DB_INT_MAX
from app.state import model_store

blp = Blueprint("retrain", __name__, url_prefix="/admin", description="Retraining jobs (admin)")


def validate_request(data: dict) -> None:
    """Everything that can be checked before a job exists; 422 otherwise, and no job is made."""
    if data.get("shuffle_labels") and not current_app.config.get("TESTING"):
        raise ApiError(
            422, "shuffle_labels is only accepted by the testing configuration.", "invalid_parameter"
        )
    if data.get("family") is not None and data["family"] not in FAMILIES:
        raise ApiError(
            422, f"Unknown family {data['family']!r}; known: {sorted(FAMILIES)}", "invalid_parameter"
        )
    if data.get("rollout") and data.get("promote_to") not in (None, data["base"]):
        # The gate compares with the base alias's version, which is what the rollout shadows.
        raise ApiError(
            422, "A rollout hand-off rolls out on the base alias: leave promote_to out.", "invalid_parameter"
        )
    # A registry that is down raises ModelUnavailable here (503): nothing to check against, no job.
    store = model_store()
    aliases = store.aliases()
    versions = store.versions()
    if data["base"] not in aliases:
        raise ApiError(
            422,
            f"Base alias {data['base']!r} is not in the registry (known: {sorted(aliases)}).",
            "unknown_alias",
        )
    # The hyper-parameters must suit the family that will be trained (the base's, unless given).
    family = data.get("family") or next(
        (v["family"] for v in versions if v["version"] == aliases[data["base"]]), None
    )
    hyper = request_hyperparams(data)
    if family and hyper:
        try:
            resolve_hyperparams(family, hyper)
        except ValueError as exc:
            raise ApiError(422, f"{exc} (family {family})", "invalid_parameter") from None


@blp.route("/retrain", methods=["POST"])
@blp.route("/retrain_mlflow", methods=["POST"], endpoint="retrain_mlflow")
@admin_required
@blp.arguments(RetrainRequestSchema, required=False)
@blp.response(202, QueuedSchema)
@blp.alt_response(
    409,
    description="A retrain is already queued or running (details.job_id), or the target alias has an "
    "active rollout (rollout_active, details.rollout_id)",
)
@blp.alt_response(422, description="Unknown keys, out-of-range values or an unknown base alias")
@blp.alt_response(503, description="The model registry is unreachable; no job was created")
@blp.doc(security=BEARER)
def start_retrain(data: dict | None):
    """Start a retrain in the background on the base data plus feedback; returns at once."""
    data = data or RetrainRequestSchema().load({})
    validate_request(data)
    params = {k: v for k, v in data.items() if v is not None and k != "note"}
    params["promote_to"] = data.get("promote_to") or data["base"]
    stale = current_app.config["RETRAIN_STALE_SECONDS"]
    job = create_job(
        current_user.id, params, data.get("note"), stale, trigger=f"admin:{current_user.username}"
    )
    runner.launch(current_app._get_current_object(), job.id)
    location = url_for("retrain.get_job", job_id=job.id)
    return {"job_id": job.id, "status": "queued"}, 202, {"Location": location}


@blp.route("/retrain/<int:job_id>", methods=["GET"])
@admin_required
@blp.response(200, JobSchema)
@blp.alt_response(404, description="No such job")
@blp.doc(security=BEARER)
def get_job(job_id: int):
    """A job's status, progress, params, metrics, MLflow run, version and promotion decision."""
    job = db.session.get(RetrainJob, job_id) if job_id <= DB_INT_MAX else None
    if job is None:
        raise ApiError(404, f"Retrain job {job_id} does not exist.", "job_not_found")
    # A job whose process died is reported failed (and its lock freed) as soon as anyone looks.
    return reap_if_stale(job, current_app.config["RETRAIN_STALE_SECONDS"])


@blp.route("/retrain", methods=["GET"])
@admin_required
@blp.arguments(PageArgs, location="query")
@blp.response(200, JobPageSchema)
@blp.doc(security=BEARER)
def list_jobs(args: dict):
    """Jobs, newest first, paginated."""
    reap_stale(current_app.config["RETRAIN_STALE_SECONDS"])
    return paginate(select(RetrainJob).order_by(RetrainJob.id.desc()), args)
