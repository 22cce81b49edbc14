from __future__ import annotations

from flask import current_app, request
from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from app.auth.decorators import BEARER, login_required
from app.errors import ApiError
from app.extensions import limiter
from app.predict.models import Prediction
from app.predict.schemas import BatchResultSchema, BatchUploadSchema, ImageUploadSchema, PredictionSchema
from app.predict.service import Upload, predict

blp = Blueprint("predict", __name__, url_prefix="/api", description="Digit predictions")

ERRORS = {
    400: "No `file` part, or an empty file",
    401: "Missing or invalid token",
    413: "Upload over MAX_CONTENT_LENGTH, too many pixels, or too many files",
    415: "Not an image, truncated, or an unsupported format",
    422: "No digit found (blank image)",
    429: "Rate limit for this model version reached",
    503: "Model or database unavailable",
}


def error_docs(fn):  # noqa: ANN001, ANN201 - decorator
    """Document the error answers shared by every predict endpoint."""
    for status, description in ERRORS.items():
        fn = blp.alt_response(status, description=description)(fn)
    return fn


def version_limit(alias: str) -> str:
    key = f"PREDICT_{alias.upper()}_LIMIT"
    return current_app.config.get(key) or current_app.config["PREDICT_V2_LIMIT"]


def version_scope(alias: str) -> str:
    # One counter per model version, shared by single, batch and A/B requests it serves.
    return f"predict-{alias}"


def read_uploads(max_files: int | None = 1) -> list[Upload]:
    files = request.files.getlist("file")
    if not files:
        raise ApiError(400, "Send the image as a multipart form field named 'file'.", "missing_file")
    if max_files is not None and len(files) > max_files:
        raise ApiError(
            413, f"Too many files: {len(files)} (at most {max_files} per request).", "too_many_files"
        )
    uploads = []
    for f in files:
        data = f.read()
        if not f.filename and not data:
            raise ApiError(400, "The 'file' part has no filename and no content.", "empty_file")
        if not data:
            raise ApiError(400, f"The file {f.filename!r} is empty.", "empty_file")
        uploads.append(Upload(f.filename or "upload", data))
    return uploads


def predict_one(alias: str, ab=None) -> Prediction:  # noqa: ANN001 - AbChoice | None
    """The stored prediction for the request's one upload (PredictionSchema dumps it)."""
    (outcome,) = predict(current_user.id, alias, read_uploads(1), ab)
    if isinstance(outcome, ApiError):
        raise outcome
    return outcome


def predict_batch(alias: str) -> dict:
    uploads = read_uploads(current_app.config["BATCH_MAX_FILES"])
    outcomes = predict(current_user.id, alias, uploads)
    results: list[Prediction | dict] = []
    for index, (upload, outcome) in enumerate(zip(uploads, outcomes, strict=True)):
        if isinstance(outcome, ApiError):
            body = {"code": outcome.code, "status": outcome.status, "message": outcome.message}
            results.append({"index": index, "filename": upload.filename, "error": body})
        else:
            # Answered, not stored: BatchItemSchema reads them beside the row's own fields.
            outcome.index, outcome.filename = index, upload.filename
            results.append(outcome)
    ok = [o for o in outcomes if not isinstance(o, ApiError)]
    if not ok:
        first = next(o for o in outcomes if isinstance(o, ApiError))
        raise ApiError(
            first.status,
            f"No file in the batch could be used: {first.message}",
            first.code,
            {"results": results},
        )
    summary = {
        "count": len(results),
        "succeeded": len(ok),
        "failed": len(results) - len(ok),
        "version": alias,
        "model_version": ok[0].model_version,
        "results": results,
    }
    _notify_batch(summary)
    return summary


def _notify_batch(summary: dict) -> None:
    from app.realtime import notify_prediction_done

    notify_prediction_done(
        current_user.id,
        {k: summary[k] for k in ("count", "succeeded", "failed", "version", "model_version")},
    )


def _named(name: str):  # noqa: ANN202 - decorator
    # The views are made in a loop; Flask-Limiter keys decorated limits by qualified name,
    # so each alias's view needs its own name or v1 and v2 would share one registration.
    def decorator(fn):  # noqa: ANN001, ANN202
        fn.__name__ = fn.__qualname__ = name
        return fn

    return decorator


def _batch_cost() -> int:
    return max(1, len(request.files.getlist("file")))


def _register(alias: str) -> None:
    limit = lambda: version_limit(alias)  # noqa: E731 - read per request: config is per app

    @blp.route(f"/{alias}/predict", methods=["POST"], endpoint=f"predict_{alias}")
    @login_required
    @limiter.shared_limit(limit, scope=version_scope(alias))
    @blp.arguments(ImageUploadSchema, location="files")
    @blp.response(200, PredictionSchema)
    @error_docs
    @blp.doc(security=BEARER, summary=f"Predict a digit with model {alias}")
    @_named(f"predict_{alias}")
    def single(_files: dict) -> dict:
        return predict_one(alias)

    @blp.route(f"/{alias}/predict/batch", methods=["POST"], endpoint=f"predict_{alias}_batch")
    @login_required
    @limiter.shared_limit(limit, scope=version_scope(alias), cost=_batch_cost)
    @blp.arguments(BatchUploadSchema, location="files")
    @blp.response(200, BatchResultSchema)
    @error_docs
    @blp.doc(security=BEARER, summary=f"Predict several digits with model {alias} in one call")
    @_named(f"predict_{alias}_batch")
    def batch(_files: dict) -> dict:
        return predict_batch(alias)


for _alias in ("v1", "v2"):
    _register(_alias)
