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
from app.predict.combine import Combiner, Job
from app.predict.models import Prediction
from app.predict.rows import insert_and_commit
from app.rollout.serving import route, shadow_rows
from app.state import model_store, sqlite_write_lock
from app.timeutil import utcnow

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


def _store(predictions: list[Prediction], shadows: list[Any]) -> None:
    """INSERT the answered rows (predictions, then their shadow answers) and commit, in one go.

    Anything else this request's session holds is committed with them. Its loaded objects are
    not expired by the commit (nothing re-SELECTs them while the answer is written).
    """
    session = db.session()
    previous = session.expire_on_commit
    session.expire_on_commit = False
    # SQLite: take the workers' fair write lock around the INSERT + COMMIT (app/filelock.py).
    lock = sqlite_write_lock()
    try:
        with lock.hold() if lock is not None else nothing():
            insert_and_commit(predictions, shadows)
    except BaseException:
        session.rollback()
        raise
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


@dataclass(eq=False)
class Request:
    """One request's images on their way through the combiner (app/predict/combine.py)."""

    user_id: int
    alias: str
    uploads: list[Upload]
    outcomes: list[Any]  # per upload: its image's index in `images`, or its ApiError
    images: np.ndarray
    model: Any
    rt: Any  # the rollout route, or None
    ab: AbChoice | None
    started: float


def predict(user_id: int, alias: str, uploads: list[Upload], ab: AbChoice | None = None) -> list[Any]:
    """Predict every upload and store one row per valid image.

    Returns, in upload order, a Prediction for each valid image and an ApiError for each
    rejected one (unreadable, blank, or out of distribution under OOD_ACTION=refuse). Rejected
    uploads write nothing. When the alias has an active rollout
    (app/rollout), the version it routes to serves and the other one scores the same batch
    beside it: its answers are stored in the same commit and never returned. Requests of this
    process that predict at the same moment share the model call and the commit (combine.py).
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
    req = Request(user_id, alias, uploads, outcomes, np.stack(images),
                  rt.served if rt is not None else alias_model, rt, ab, started)  # fmt: skip
    session = db.session()
    comb = combiner()
    if comb is None or session.new or session.dirty or session.deleted:
        # SQLite, or this request has uncommitted changes its own commit must carry: alone.
        return answer_alone(req)
    return comb.submit(Job(req))


def answer_alone(req: Request) -> list[Any]:
    job = Job(req)
    answer([job])
    return job.outcome()


def combiner() -> Combiner | None:
    """The app's combiner (app/predict/combine.py); None on SQLite, whose requests go alone."""
    ext = current_app.extensions
    if "digitserve.combiner" not in ext:
        server_db = db.engine.dialect.name != "sqlite"
        ext.setdefault("digitserve.combiner", Combiner(answer) if server_db else None)
    return ext["digitserve.combiner"]


def _score(reqs: list[Request]) -> dict[int, tuple[np.ndarray, np.ndarray, float]]:
    """Probabilities and OOD scores per request: one call per model over all its requests."""
    out = {}
    by_model: dict[int, list[Request]] = {}
    for req in reqs:
        by_model.setdefault(id(req.model), []).append(req)
    for same in by_model.values():
        batch = np.concatenate([r.images for r in same]) if len(same) > 1 else same[0].images
        proba = np.asarray(same[0].model.predict_proba(batch), dtype=np.float64)
        scores = np.asarray(same[0].model.ood_scores(batch), dtype=np.float64)
        done = time.perf_counter()
        at = 0
        for r in same:
            n = len(r.images)
            out[id(r)] = (proba[at : at + n], scores[at : at + n], done)
            at += n
    return out


def _rows(req: Request, proba: np.ndarray, scores: np.ndarray, done: float) -> list[Prediction]:
    threshold = ood_threshold()
    if current_app.config.get("OOD_ACTION") == "refuse":
        _refuse_ood(req.uploads, req.outcomes, scores, threshold)
    ab = req.ab
    common = {
        "user_id": req.user_id,
        "model_name": current_app.config["MODEL_NAME"],
        "model_alias": req.alias,
        "model_version": str(req.model.version),
        "ab_experiment": ab.experiment if ab else None,
        "ab_arm": ab.arm if ab else None,
        "latency_ms": (done - req.started) * 1000.0 / len(req.images),
        "created_at": utcnow(),  # set here: rows.py's INSERT applies no ORM defaults
    }
    return [
        _row(common, upload, req.images[outcome], proba[outcome], float(scores[outcome]), threshold)
        for upload, outcome in zip(req.uploads, req.outcomes, strict=True)
        if not isinstance(outcome, ApiError)
    ]


def answer(jobs: list[Job]) -> None:
    """Score, store (one commit) and answer every job's request (the combiner's leader runs it)."""
    reqs = [job.payload for job in jobs]
    scored = _score(reqs)
    rows_of: dict[int, list[Prediction]] = {}
    predictions: list[Prediction] = []
    shadows: list[Any] = []
    for req in reqs:
        rows = rows_of[id(req)] = _rows(req, *scored[id(req)])
        predictions += rows
        if rows and req.rt is not None:
            kept = [o for o in req.outcomes if not isinstance(o, ApiError)]  # OOD refusals
            shadows += shadow_rows(req.rt, req.images[kept], rows)
    if predictions:
        _store(predictions, shadows)
    for job, req in zip(jobs, reqs, strict=True):
        rows = rows_of[id(req)]
        if rows:
            version, arm = str(req.model.version), req.ab.arm if req.ab else None
            record_prediction(req.alias, version, arm, len(rows))
            record_ood(req.alias, version, sum(r.ood for r in rows))
        it = iter(rows)
        job.result = [o if isinstance(o, ApiError) else next(it) for o in req.outcomes]
