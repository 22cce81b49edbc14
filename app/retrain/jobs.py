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
from app.retrain.models import ACTIVE_STATUSES, LOCK_VALUE, RetrainJob
from app.retrain.schemas import JobEventSchema
from app.timeutil import utcnow

OWNER = f"{socket.gethostname()}:{os.getpid()}"
_EVENT_SCHEMA = JobEventSchema()


def job_event(job: RetrainJob) -> dict[str, Any]:
    """The job as the Socket.IO `retrain_finished` event carries it (JobSchema's fields)."""
    return _EVENT_SCHEMA.dump(job)


def active_job() -> RetrainJob | None:
    return db.session.scalar(select(RetrainJob).where(RetrainJob.active_lock == LOCK_VALUE))


def create_job(
    user_id: int | None,
    params: dict[str, Any],
    note: str | None,
    stale_after: float,
    trigger: str | None = None,
) -> RetrainJob:
    """Insert a queued job holding the deployment-wide lock, or raise 409 naming the active one.

    `trigger` says what started it: "admin:<username>" or "policy:<trigger> (<why>)".
    A job whose target alias has an active staged rollout is refused (409 rollout_active): the
    rollout's end would move the alias again and drop a promotion unseen, and a hand-off job's
    own rollout would be refused when it finishes."""
    _refuse_if_rolling_out(params)
    current = active_job()
    if current is not None and (_is_stale(current, stale_after) or _owner_is_dead(current)):
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
        trigger=trigger[:255] if trigger else None,
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


def _refuse_if_rolling_out(params: dict[str, Any]) -> None:
    target = params.get("promote_to")
    if target:
        from app.rollout.service import refuse_if_active  # here: app.rollout imports the retrain side

        refuse_if_active(target)


def promoting_job(alias: str, stale_after: float) -> RetrainJob | None:
    """The active job that will move ``alias`` itself when it finishes (a dead one is reaped)."""
    job = active_job()
    if job is None or reap_if_stale(job, stale_after).status not in ACTIVE_STATUSES:
        return None
    params = job.params or {}
    return job if params.get("promote_to") == alias and not params.get("rollout") else None


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


def _owner_is_dead(job: RetrainJob) -> bool:
    """The job is running in a process of this host that no longer exists (pid check).

    Only a *running* job has an owner that works on it (a queued one was merely created by an API
    worker); a restart on the same host so recovers at once, whatever the heartbeat's age.
    """
    if job.status != "running" or not job.owner or ":" not in job.owner:
        return False
    host, _, pid = job.owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def mark_interrupted(job: RetrainJob) -> None:
    if job.status == "queued":
        job.error = "interrupted: no retrain worker took the job before its heartbeat went stale"
    else:
        job.error = "interrupted: the process running this job stopped before it finished"
    job.status = "failed"
    job.step = "interrupted"
    job.active_lock = None
    job.finished_at = utcnow()
    db.session.commit()


def reap_stale(stale_after: float) -> int:
    """Fail every queued/running job whose process died (stale heartbeat, or a dead local pid)."""
    jobs = db.session.scalars(select(RetrainJob).where(RetrainJob.status.in_(ACTIVE_STATUSES))).all()
    count = 0
    for job in jobs:
        if _is_stale(job, stale_after) or _owner_is_dead(job):
            mark_interrupted(job)
            count += 1
    return count


def reap_if_stale(job: RetrainJob, stale_after: float) -> RetrainJob:
    """Reading a job notices a dead one: it is reported (and its lock freed) as failed."""
    if job.status in ACTIVE_STATUSES and (_is_stale(job, stale_after) or _owner_is_dead(job)):
        mark_interrupted(job)
    return job


def claim(job_id: int) -> bool:
    """Atomically take a queued job for this process (False if another took or failed it)."""
    now = utcnow()
    result = db.session.execute(
        update(RetrainJob)
        .where(RetrainJob.id == job_id, RetrainJob.status == "queued")
        .values(
            status="running", owner=f"{socket.gethostname()}:{os.getpid()}", heartbeat_at=now, started_at=now
        )
    )
    db.session.commit()
    return result.rowcount == 1


def next_queued() -> int | None:
    return db.session.scalar(
        select(RetrainJob.id).where(RetrainJob.status == "queued").order_by(RetrainJob.id).limit(1)
    )


def recover_interrupted(app: Flask) -> int:
    """At start-up: fail jobs left queued/running by a process that died.

    A job counts as dead when its heartbeat is older than RETRAIN_STALE_SECONDS or when its
    owner is a process of this host that no longer exists. Jobs of a live process are left alone;
    the retrain worker and every read of a job keep checking later, so a restart that comes
    soon after a crash cannot leave a job "running" for ever.
    """
    with app.app_context():
        if not inspect(db.engine).has_table(RetrainJob.__tablename__):
            return 0  # before `flask db upgrade`
        count = reap_stale(app.config["RETRAIN_STALE_SECONDS"])
        if count:
            app.logger.warning("marked %d interrupted retrain job(s) as failed", count)
        db.session.remove()
        return count


def update_job(job_id: int, **values: Any) -> None:
    values.setdefault("heartbeat_at", utcnow())
    db.session.execute(update(RetrainJob).where(RetrainJob.id == job_id).values(**values))
    db.session.commit()
