"""Runs a retrain job: gathers feedback-labelled images from the database, calls the pure retrain
core in app.ml.retrain, and records progress, the MLflow run and the promotion decision in the job.

Where it runs is RETRAIN_EXECUTOR (never inside a serving process in a deployment):
- "process": the embedded retrain process (app/retrain/worker.py, started by gunicorn's master
  at a lower CPU priority) polls the database for queued jobs;
- "rq": an RQ queue on the deployment's Redis; `python -m app.retrain.worker` runs its workers,
  on any machine that reaches the database, Redis and the MLflow server;
- "thread": a thread of the process that accepted the request (tests and `flask run` only).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import Any

import numpy as np
from flask import Flask

from app.aliases import mover
from app.errors import ApiError
from app.extensions import db
from app.feedback.training import training_feedback
from app.metrics import record_retrain
from app.ml.codec import N_PIXELS, image_from_bytes
from app.ml.registry import BASE_ALIAS
from app.ml.retrain import RetrainRequest, RetrainResult, request_hyperparams, retrain
from app.notify import notify
from app.realtime import notify_model_promoted, notify_retrain_finished, notify_retrain_progress
from app.retrain.handoff import hand_off, wants_rollout, without_target
from app.retrain.jobs import job_event, update_job
from app.retrain.models import RetrainJob
from app.state import model_store, redis_client
from app.timeutil import utcnow

log = logging.getLogger(__name__)


def start(app: Flask, job_id: int) -> threading.Thread:
    thread = threading.Thread(target=run_job, args=(app, job_id), name=f"retrain-{job_id}", daemon=True)
    thread.start()
    return thread


def retrain_queue_name(app: Flask) -> str:
    return f"{app.config['KEY_NAMESPACE']}-retrain"


def dispatch(app: Flask, job_id: int) -> None:
    """Hand a freshly created (queued) job to the configured executor."""
    executor = app.config["RETRAIN_EXECUTOR"]
    if executor == "thread":
        start(app, job_id)
    elif executor == "rq":
        from rq import Queue

        # The app's client: bounded timeouts, so a stalled Redis turns into a quick 503.
        queue = Queue(retrain_queue_name(app), connection=redis_client(app))
        # The job row is the truth (status, lock, heartbeat); RQ only carries the id to a worker.
        queue.enqueue(
            "app.retrain.tasks.run_retrain_job",
            job_id,
            job_timeout=4 * 3600,
            result_ttl=3600,
            failure_ttl=86400,
        )
    # "process": the embedded retrain process polls the database; nothing to send.


def launch(app: Flask, job_id: int) -> None:
    """dispatch, or fail the job (freeing the lock) and raise 503 if it cannot be handed over."""
    try:
        dispatch(app, job_id)
    except Exception as exc:  # noqa: BLE001 - e.g. Redis down: fail the job, free the lock, say so
        update_job(
            job_id, status="failed", active_lock=None, step="failed", error=f"not queued: {exc}"[:2000]
        )
        raise ApiError(
            503, "The retrain queue is unavailable; no retrain was started.", "queue_unavailable"
        ) from None


def feedback_examples(user_cap: int | None = None) -> tuple[np.ndarray, np.ndarray, list[int], list[Any]]:
    """The stored prediction image of every trainable verdict, at most `user_cap` per user
    (app/feedback/training.py): (X, y, feedback ids, times)."""
    rows = db.session.execute(training_feedback(user_cap)).all()
    if not rows:
        return np.zeros((0, N_PIXELS), np.float32), np.zeros(0, np.int64), [], []
    X = np.stack([image_from_bytes(r.image).reshape(N_PIXELS) for r in rows])
    y = np.array([r.label for r in rows], dtype=np.int64)
    return X, y, [r.id for r in rows], [r.created_at for r in rows]


def request_for(app: Flask, job: RetrainJob) -> RetrainRequest:
    """The job's parameters and the deployment's settings as one request (feedback comes later)."""
    params = dict(job.params or {})
    cfg = app.config
    return RetrainRequest(
        tracking_uri=cfg["MLFLOW_TRACKING_URI"],
        base_alias=params.get("base", BASE_ALIAS),
        family=params.get("family"),
        hyperparams=request_hyperparams(params),
        feedback_weight=cfg["RETRAIN_FEEDBACK_WEIGHT"],
        promote_to=job.target_alias,
        margin=cfg["RETRAIN_PROMOTION_MARGIN"],
        seed=0,
        limit=cfg["RETRAIN_DATA_LIMIT"],
        shuffle_labels=bool(params.get("shuffle_labels")),
        job_id=job.id,
        requested_by=str(job.requested_by) if job.requested_by is not None else None,
        model_name=cfg["MODEL_NAME"],
    )


def record_result(
    job_id: int, req: RetrainRequest, note: str | None, result: RetrainResult, final: bool = True
) -> str:
    """Write the retrain's outcome into the job row; returns the job's status.

    With ``final=False`` (a rollout hand-off follows) the figures are written but the job stays
    running and keeps its lock: hand_off ends it, so no client sees a terminal status that then
    changes, and no second retrain starts in between."""
    metrics = {k: v for k, v in result.metrics.items() if isinstance(v, int | float)}
    metrics["n_feedback_total"] = len(req.feedback_ids)
    metrics["n_feedback_used"] = result.n_feedback_used
    if result.feedback_accuracy is not None:
        metrics["feedback_accuracy"] = result.feedback_accuracy
    note = note or ""
    if result.note:
        note = f"{note} ({result.note})" if note else result.note
    status = ("succeeded" if result.promoted else "rejected") if final else "running"
    ending = {"active_lock": None, "progress": 100, "step": "done", "finished_at": utcnow()}
    update_job(
        job_id,
        status=status,
        **(ending if final else {"step": "starting the rollout"}),
        metrics=metrics,
        mlflow_run_id=result.run_id,
        mlflow_experiment_id=result.experiment_id,
        registered_version=result.registered_version,
        promoted=result.promoted,
        decision=result.decision,
        new_accuracy=result.holdout_accuracy,
        baseline_accuracy=result.baseline_accuracy,
        note=note or None,
    )
    return status


def _run(app: Flask, job: RetrainJob, stop: threading.Event) -> str:
    """job -> request -> retrain -> job; returns the job's final status."""
    # Read the row before the first commit: a row deleted later must not fail the run here.
    job_id, note, req = job.id, (job.params or {}).get("note"), request_for(app, job)
    rollout = (job.target_alias, job.requested_by) if wants_rollout(job) else None
    if rollout is not None:
        req = without_target(req)  # the core moves nothing; hand_off gates and starts a rollout
    move = mover("retrain", job.requested_by)  # the promotion's alias moves are recorded
    update_job(job_id, status="running", started_at=utcnow(), progress=1, step="collecting feedback")
    threading.Thread(target=_heartbeat, args=(app, job_id, stop), daemon=True).start()
    notify_retrain_progress(job_id, 1, "collecting feedback")
    X, y, ids, times = feedback_examples(app.config["FEEDBACK_USER_CAP"])
    req = replace(req, extra_X=X, extra_y=y, feedback_ids=ids, feedback_times=times)
    # The core reports 0-100 for its own work; the job's first 5 % were collecting.
    result = retrain(
        req, progress=lambda pct, step: _progress(job_id, 5 + int(pct) * 95 // 100, step), move=move
    )
    outcome = record_result(job_id, req, note, result, final=rollout is None)
    if rollout is not None:
        hand_off(job_id, rollout[0], rollout[1], req, result)
        outcome = db.session.get(RetrainJob, job_id).status
    if result.promoted:
        _after_promotion(app, result.target_alias, result.registered_version)
    return outcome


def run_job(app: Flask, job_id: int) -> None:
    with app.app_context():
        started = time.perf_counter()
        stop = threading.Event()
        try:
            job = db.session.get(RetrainJob, job_id)
            if job.status not in ("queued", "running"):
                log.warning("retrain job %s is %s already; not running it", job_id, job.status)
                return
            outcome = _run(app, job, stop)
        except Exception as exc:  # noqa: BLE001 - any failure ends the job, cleanly, as failed
            log.exception("retrain job %s failed", job_id)
            db.session.rollback()
            update_job(
                job_id,
                status="failed",
                active_lock=None,
                step="failed",
                error=f"{type(exc).__name__}: {exc}"[:2000],
                finished_at=utcnow(),
            )
            outcome = "failed"
        finally:
            stop.set()
        _finished(job_id, outcome, time.perf_counter() - started)
        db.session.remove()


def _heartbeat(app: Flask, job_id: int, stop: threading.Event) -> None:
    # Training can be silent for a while; the heartbeat tells other processes the job is alive.
    with app.app_context():
        while not stop.wait(app.config["RETRAIN_HEARTBEAT_SECONDS"]):
            try:
                update_job(job_id)
            except Exception:  # noqa: BLE001 - a missed beat is harmless; the next one retries
                db.session.rollback()
        db.session.remove()


def _progress(job_id: int, pct: int, step: str) -> None:
    update_job(job_id, progress=int(pct), step=step[:128])
    notify_retrain_progress(job_id, int(pct), step)
    log.info("retrain job %s: %d%% %s", job_id, pct, step)


def _after_promotion(app: Flask, alias: str | None, version: str) -> None:
    store = model_store(app)
    try:
        store.refresh()  # this process serves the new version at once; others within the interval
    except Exception:  # noqa: BLE001 - the periodic refresh will retry
        log.warning("refresh after promotion failed", exc_info=True)
    if alias:
        notify_model_promoted(alias, version)
        notify("model.promoted", {"alias": alias, "version": version})


def _finished(job_id: int, outcome: str, seconds: float) -> None:
    record_retrain(outcome, seconds)
    job = db.session.get(RetrainJob, job_id)
    if job is None:  # the row is gone (deleted while the job ran): nothing left to announce
        log.warning("retrain job %s vanished before it finished", job_id)
        return
    db.session.refresh(job)
    payload = job_event(job)
    notify_retrain_finished(payload)
    notify("retrain.finished", payload)
