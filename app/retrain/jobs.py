"""Retrain jobs in the database: one active job per deployment, progress, recovery."""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import inspect, select, update
from sqlalchemy.exc import IntegrityError

from app.errors import ApiError
from app.extensions import db
from app.ml.registry import RETRAIN_EXPERIMENT
from app.retrain.models import ACTIVE_STATUSES, LOCK_VALUE, RetrainJob
from app.timeutil import utcnow

OWNER = f"{socket.gethostname()}:{os.getpid()}"


def job_dict(job: RetrainJob) -> dict[str, Any]:
    duration = None
    if job.started_at and job.finished_at:
        duration = round((job.finished_at - job.started_at).total_seconds(), 3)
    return {
        "id": job.id,
        "job_id": job.id,
        "status": job.status,
        "progress": job.progress,
        "step": job.step,
        "requested_by": job.requested_by,
        "params": job.params or {},
        "metrics": job.metrics or {},
        "mlflow_experiment_id": job.mlflow_experiment_id,
        "mlflow_experiment": RETRAIN_EXPERIMENT,
        "mlflow_run_id": job.mlflow_run_id,
        "registered_version": job.registered_version,
        "promoted": job.promoted,
        "decision": job.decision,
        "new_accuracy": job.new_accuracy,
        "baseline_accuracy": job.baseline_accuracy,
        "error": job.error,
        "note": job.note,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "duration_s": duration,
    }


def active_job() -> RetrainJob | None:
    return db.session.scalar(select(RetrainJob).where(RetrainJob.active_lock == LOCK_VALUE))


def create_job(user_id: int, params: dict[str, Any], note: str | None, stale_after: float) -> RetrainJob:
    """Insert a queued job holding the deployment-wide lock, or raise 409 naming the active one."""
    current = active_job()
    if current is not None and _is_stale(current, stale_after):
        mark_interrupted(current)
        current = None
    if current is not None:
        raise _conflict(current)
    job = RetrainJob(
        status="queued",
        active_lock=LOCK_VALUE,
        requested_by=user_id,
        params=params,
        metrics={},
        progress=0,
        step="queued",
        note=note,
        owner=OWNER,
        heartbeat_at=utcnow(),
    )
    db.session.add(job)
    try:
        db.session.commit()
    except IntegrityError:
        # Another worker inserted its job between our check and our insert: the unique
        # active_lock column made the database choose one.
        db.session.rollback()
        current = active_job()
        raise _conflict(current) from None
    return job


def _conflict(job: RetrainJob | None) -> ApiError:
    job_id = job.id if job is not None else None
    return ApiError(
        409,
        f"A retrain is already {job.status if job else 'running'} (job {job_id}); wait for it to finish.",
        "retrain_in_progress",
        {"job_id": job_id},
    )


def _is_stale(job: RetrainJob, stale_after: float) -> bool:
    beat = job.heartbeat_at or job.created_at
    return beat < utcnow() - timedelta(seconds=stale_after)


def mark_interrupted(job: RetrainJob) -> None:
    job.status = "failed"
    job.error = "interrupted: the process running this job stopped before it finished"
    job.step = "interrupted"
    job.active_lock = None
    job.finished_at = utcnow()
    db.session.commit()


def recover_interrupted(app: Flask) -> int:
    """At start-up: fail jobs left queued/running by a process that died (stale heartbeat).

    Jobs with a fresh heartbeat belong to a live worker of this deployment and are left alone.
    """
    with app.app_context():
        if not inspect(db.engine).has_table(RetrainJob.__tablename__):
            return 0  # before `flask db upgrade`
        jobs = db.session.scalars(select(RetrainJob).where(RetrainJob.status.in_(ACTIVE_STATUSES))).all()
        count = 0
        for job in jobs:
            if _is_stale(job, app.config["RETRAIN_STALE_SECONDS"]):
                mark_interrupted(job)
                count += 1
        if count:
            app.logger.warning("marked %d interrupted retrain job(s) as failed", count)
        db.session.remove()
        return count


def update_job(job_id: int, **values: Any) -> None:
    values.setdefault("heartbeat_at", utcnow())
    db.session.execute(update(RetrainJob).where(RetrainJob.id == job_id).values(**values))
    db.session.commit()
