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
from datetime import datetime
from typing import Any

import numpy as np
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.feedback.models import COUNTED_FEEDBACK, Feedback
from app.ml.retrain import retrain
from app.predict.models import Prediction
from app.predict.service import image_from_bytes
from app.retrain.jobs import job_dict, update_job
from app.retrain.models import RetrainJob
from app.state import model_store, redis_client
from app.timeutil import isoformat, utcnow

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


def feedback_examples() -> tuple[np.ndarray, np.ndarray, list[int], list[Any]]:
    """Every stored prediction image with a labelled verdict: (X, y, feedback ids, times)."""
    rows = db.session.execute(
        select(Feedback.id, Feedback.label, Feedback.created_at, Prediction.image)
        .join(Prediction, COUNTED_FEEDBACK)
        .where(Feedback.label.is_not(None))
        .order_by(Feedback.created_at, Feedback.id)
    ).all()
    if not rows:
        return np.zeros((0, 784), np.float32), np.zeros(0, np.int64), [], []
    X = np.stack([image_from_bytes(r.image).reshape(784) for r in rows])
    y = np.array([r.label for r in rows], dtype=np.int64)
    return X, y, [r.id for r in rows], [r.created_at for r in rows]


def run_job(app: Flask, job_id: int) -> None:
    with app.app_context():
        started = time.perf_counter()
        stop = threading.Event()
        beat = threading.Thread(target=_heartbeat, args=(app, job_id, stop), daemon=True)
        try:
            job = db.session.get(RetrainJob, job_id)
            if job.status not in ("queued", "running"):
                log.warning("retrain job %s is %s already; not running it", job_id, job.status)
                return
            params = dict(job.params or {})
            requested_by = str(job.requested_by) if job.requested_by is not None else None
            update_job(job_id, status="running", started_at=utcnow(), progress=1, step="collecting feedback")
            beat.start()
            _emit_progress(job_id, 1, "collecting feedback")
            X, y, ids, times = feedback_examples()
            cfg = app.config
            hyper = {k: params[k] for k in ("epochs", "learning_rate") if params.get(k) is not None}
            result = retrain(
                tracking_uri=cfg["MLFLOW_TRACKING_URI"],
                base_alias=params.get("base", "v2"),
                family=params.get("family"),
                hyperparams=hyper,
                extra_X=X,
                extra_y=y,
                feedback_ids=ids,
                feedback_times=times,
                feedback_weight=cfg["RETRAIN_FEEDBACK_WEIGHT"],
                promote_to=params.get("promote_to") or params.get("base", "v2"),
                margin=cfg["RETRAIN_PROMOTION_MARGIN"],
                seed=0,
                limit=cfg["RETRAIN_DATA_LIMIT"],
                shuffle_labels=bool(params.get("shuffle_labels")),
                job_id=job_id,
                requested_by=requested_by,
                # The core reports 0-100 for its own work; the job's first 5 % were collecting.
                progress=lambda pct, step: _progress(job_id, 5 + int(pct) * 95 // 100, step),
            )
            metrics = {k: v for k, v in result.metrics.items() if isinstance(v, int | float)}
            metrics["n_feedback_total"] = len(ids)
            metrics["n_feedback_used"] = result.n_feedback_used
            if result.feedback_accuracy is not None:
                metrics["feedback_accuracy"] = result.feedback_accuracy
            note = params.get("note") or ""
            if result.note:
                note = f"{note} ({result.note})" if note else result.note
            update_job(
                job_id,
                status="succeeded" if result.promoted else "rejected",
                active_lock=None,
                progress=100,
                step="done",
                metrics=metrics,
                mlflow_run_id=result.run_id,
                mlflow_experiment_id=result.experiment_id,
                registered_version=result.registered_version,
                promoted=result.promoted,
                decision=result.decision,
                new_accuracy=result.holdout_accuracy,
                baseline_accuracy=result.baseline_accuracy,
                note=note or None,
                finished_at=utcnow(),
            )
            if result.promoted:
                _after_promotion(app, result.target_alias, result.registered_version)
            outcome = "succeeded" if result.promoted else "rejected"
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
    _emit_progress(job_id, int(pct), step)
    log.info("retrain job %s: %d%% %s", job_id, pct, step)


def _emit_progress(job_id: int, pct: int, step: str) -> None:
    from app.realtime import notify_retrain_progress

    notify_retrain_progress(job_id, pct, step)


def _after_promotion(app: Flask, alias: str | None, version: str) -> None:
    from app.realtime import notify_model_promoted

    store = model_store(app)
    try:
        store.refresh()  # this process serves the new version at once; others within the interval
    except Exception:  # noqa: BLE001 - the periodic refresh will retry
        log.warning("refresh after promotion failed", exc_info=True)
    if alias:
        notify_model_promoted(alias, version)


def _finished(job_id: int, outcome: str, seconds: float) -> None:
    from app.metrics import record_retrain
    from app.realtime import notify_retrain_finished

    record_retrain(outcome, seconds)
    job = db.session.get(RetrainJob, job_id)
    if job is None:  # the row is gone (deleted while the job ran): nothing left to announce
        log.warning("retrain job %s vanished before it finished", job_id)
        return
    db.session.refresh(job)
    payload = {k: isoformat(v) if isinstance(v, datetime) else v for k, v in job_dict(job).items()}
    notify_retrain_finished(payload)
