"""The HTTP side of a prediction, shared by /api/<version>/predict and /api/ab/predict.

Reading the multipart upload, the per-version rate limit and the documented error answers live
here, so the A/B views use them without importing the predict views.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request
from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from app.errors import ApiError
from app.predict.models import Prediction
from app.predict.schemas import prediction_body
from app.predict.service import AbChoice, Upload, predict
from app.realtime import notify_prediction_done

ERRORS = {
    400: "No `file` part, or an empty file",
    401: "Missing or invalid token",
    413: "Upload over MAX_CONTENT_LENGTH, too many pixels, or too many files",
    415: "Not an image, truncated, or an unsupported format",
    422: "No digit found (blank image), or not a digit under OOD_ACTION=refuse (out_of_distribution)",
    429: "Rate limit for this model version reached",
    503: "Model or database unavailable",
}


def error_docs(blp: Blueprint) -> Callable[[Callable], Callable]:
    """Document the error answers shared by every predict endpoint (on `blp`'s views)."""

    def decorator(fn: Callable) -> Callable:
        for status, description in ERRORS.items():
            fn = blp.alt_response(status, description=description)(fn)
        return fn

    return decorator


def version_limit(alias: str) -> str:
    key = f"PREDICT_{alias.upper()}_LIMIT"
    return current_app.config.get(key) or current_app.config["PREDICT_V2_LIMIT"]


def version_scope(alias: str) -> str:
    # One counter per model version, shared by single, batch and A/B requests it serves.
    return f"predict-{alias}"


def batch_cost() -> int:
    return max(1, len(request.files.getlist("file")))


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


def predict_one(alias: str, ab: AbChoice | None = None) -> Prediction:
    """The stored prediction for the request's one upload (PredictionSchema dumps it)."""
    (outcome,) = predict(current_user.id, alias, read_uploads(1), ab)
    if isinstance(outcome, ApiError):
        raise outcome
    return outcome


def prediction_response(row: Prediction) -> Response:
    """The 200 answer of a single-image view (documented as PredictionSchema; see app/apidoc.py)."""
    return current_app.json.response(prediction_body(row))


def predict_batch(alias: str) -> dict[str, Any]:
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
    notify_prediction_done(
        current_user.id,
        {k: summary[k] for k in ("count", "succeeded", "failed", "version", "model_version")},
    )
    return summary
