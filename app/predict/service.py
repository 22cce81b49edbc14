"""The prediction service: one code path for /api/v1, /api/v2, their batch forms and /api/ab.

Views parse HTTP; this module turns image bytes into stored predictions. It calls the model
runtime from app.ml (which knows nothing of Flask) through the per-process ModelStore.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from flask import current_app

from app.errors import ApiError
from app.extensions import db
from app.filelock import nothing
from app.metrics import record_ood, record_prediction, set_served_version
from app.ml import ood
from app.ml.codec import image_to_bytes
from app.ml.errors import ImageError, ModelNotFound, ModelUnavailable
from app.ml.preprocess import preprocess_image
from app.predict.models import Prediction
from app.rollout.serving import route, shadow_rows
from app.state import model_store, sqlite_write_lock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


@dataclass(frozen=True)
class AbChoice:
    experiment: str
    arm: str


def get_model(alias: str) -> Any:
    """The loaded model for an alias, after a cheap, rate-limited check for alias moves."""
    store = model_store()
    try:
        store.maybe_refresh(current_app.config["MODEL_RELOAD_INTERVAL"])
    except Exception:  # noqa: BLE001 - keep serving the loaded models if the registry is down
        log.warning("model registry refresh failed; serving the loaded versions", exc_info=True)
    try:
        model = store.get(alias)
    except ModelNotFound:
        raise  # answered by the one ML error handler (app/errors.py)
    except Exception as exc:  # noqa: BLE001 - registry unreachable and nothing loaded yet
        # Callers see a plain message; the cause (addresses, paths) goes to the log only.
        log.exception("cannot load model alias %s", alias)
        raise ModelUnavailable(f"Model {alias!r} is not available right now.") from exc
    set_served_version(alias, model.version)
    return model


def preprocess(upload: Upload) -> np.ndarray:
    try:
        return preprocess_image(upload.data, max_pixels=current_app.config["MAX_IMAGE_PIXELS"])
    except ImageError as exc:
        # Its own status and code; predict() keeps it as the answer for this one file.
        raise ApiError.from_ml(exc, {"filename": upload.filename}) from None


def _commit_keeping_values() -> None:
    # A commit expires every loaded attribute, so dumping the answer would re-SELECT each new row
    # just to read back the values written a moment ago (one extra query per request; about a
    # tenth of the request time under load). The rows are complete after the flush (ids
    # included), so keep them; the session's setting is restored for everything else.
    session = db.session()
    previous = session.expire_on_commit
    session.expire_on_commit = False
    # SQLite: take the workers' fair write lock around the INSERT + COMMIT (app/filelock.py).
    lock = sqlite_write_lock()
    try:
        with lock.hold() if lock is not None else nothing():
            session.commit()
    finally:
        session.expire_on_commit = previous


def ood_threshold() -> float:
    return float(current_app.config.get("OOD_THRESHOLD") or ood.DEFAULT_THRESHOLD)


def _refuse_ood(uploads: list[Upload], outcomes: list[Any], scores: np.ndarray, threshold: float) -> None:
    """OOD_ACTION=refuse: each flagged image's outcome becomes a 422 (nothing stored for it)."""
    for i, (upload, outcome) in enumerate(zip(uploads, outcomes, strict=True)):
        if isinstance(outcome, ApiError) or scores[outcome] <= threshold:
            continue
        outcomes[i] = ApiError(
            422,
            "This image does not look like a handwritten or printed digit.",
            "out_of_distribution",
            {
                "filename": upload.filename,
                "ood_score": round(float(scores[outcome]), 4),
                "threshold": threshold,
            },
        )


def _row(
    common: dict[str, Any], upload: Upload, image: np.ndarray, p: np.ndarray, score: float, threshold: float
) -> Prediction:
    digit = int(p.argmax())
    return Prediction(
        **common,
        predicted=digit,
        probability=round(float(p[digit]), 6),
        probabilities=[round(float(v), 6) for v in p],
        image=image_to_bytes(image),
        image_sha256=hashlib.sha256(upload.data).hexdigest(),
        ood=score > threshold,
        ood_score=round(score, 4),
    )


def predict(user_id: int, alias: str, uploads: list[Upload], ab: AbChoice | None = None) -> list[Any]:
    """Predict every upload with one vectorised model call and store one row per valid image.

    Returns, in upload order, a Prediction for each valid image and an ApiError for each
    rejected one (unreadable, blank, or out of distribution under OOD_ACTION=refuse). Rejected
    uploads write nothing. When the alias has an active rollout
    (app/rollout), the version it routes to serves and the other one scores the same batch
    beside it: its answers are stored in the same commit and never returned.
    """
    started = time.perf_counter()
    images: list[np.ndarray] = []
    outcomes: list[Any] = []
    for upload in uploads:
        try:
            images.append(preprocess(upload))
            outcomes.append(len(images) - 1)
        except ApiError as err:
            outcomes.append(err)
    if not images:
        return outcomes
    alias_model = get_model(alias)
    rt = route(alias, user_id, alias_model)
    model = rt.served if rt is not None else alias_model
    batch = np.stack(images)
    proba = np.asarray(model.predict_proba(batch), dtype=np.float64)
    scores = np.asarray(model.ood_scores(batch), dtype=np.float64)
    threshold = ood_threshold()
    if current_app.config.get("OOD_ACTION") == "refuse":
        _refuse_ood(uploads, outcomes, scores, threshold)
    latency_ms = (time.perf_counter() - started) * 1000.0 / len(images)
    common = {
        "user_id": user_id,
        "model_name": current_app.config["MODEL_NAME"],
        "model_alias": alias,
        "model_version": str(model.version),
        "ab_experiment": ab.experiment if ab else None,
        "ab_arm": ab.arm if ab else None,
        "latency_ms": latency_ms,
    }
    rows = [
        _row(common, upload, images[outcome], proba[outcome], float(scores[outcome]), threshold)
        for upload, outcome in zip(uploads, outcomes, strict=True)
        if not isinstance(outcome, ApiError)
    ]
    if not rows:
        return outcomes
    db.session.add_all(rows)
    if rt is not None:
        kept = [outcome for outcome in outcomes if not isinstance(outcome, ApiError)]  # OOD refusals
        db.session.add_all(shadow_rows(rt, batch[kept], rows))
    _commit_keeping_values()
    record_prediction(alias, str(model.version), ab.arm if ab else None, len(rows))
    record_ood(alias, str(model.version), sum(r.ood for r in rows))
    it = iter(rows)
    return [outcome if isinstance(outcome, ApiError) else next(it) for outcome in outcomes]

