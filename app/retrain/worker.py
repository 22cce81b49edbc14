"""The retrain worker: `python -m app.retrain.worker`. Retraining never runs in a serving process.

RETRAIN_EXECUTOR=process (embedded default): gunicorn's master starts this module as a child
process at a lower CPU priority; it claims queued jobs from the database one at a time, runs
them, and fails jobs whose process died (stale heartbeat, or a dead local pid) — at its start and
every few seconds, whatever the delay since the crash.

RETRAIN_EXECUTOR=rq (scale-out): this module runs an RQ worker on the deployment's Redis,
listening on the deployment's retrain queue; start as many as wanted, on any machine that reaches
the database, Redis and the MLflow server (`make worker`, docker-compose's `worker` service).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

from flask import Flask

from app import create_app
from app.extensions import db
from app.policy import ensure_scheduler, stop_scheduler
from app.retrain import tasks
from app.retrain.cpulimit import limit_cpu
from app.retrain.jobs import claim, next_queued, reap_stale, update_job
from app.retrain.runner import retrain_queue_name, run_job
from app.timeutil import utcnow

log = logging.getLogger("digitserve.retrain.worker")

POLL_S = 0.5


def lower_priority(increment: int, idle: bool = True) -> None:
    """Training is batch work: the serving processes have the CPU first.

    At nice 10 a retrain still took about a tenth of a core the serving workers wanted, and p99 at
    8 clients doubled while it ran. Linux's SCHED_IDLE class (`idle`) runs it on CPU time nobody
    else wants; under full load it slows down instead of the answers. Inherited by RQ's work horses.
    """
    if increment > 0:
        try:
            os.nice(increment)
        except OSError:
            log.warning("could not lower the retrain worker's priority")
    if idle and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except OSError:
            log.warning("could not move the retrain worker to the idle scheduling class")


def serve_embedded(app: Flask, stop: threading.Event) -> None:
    stale = app.config["RETRAIN_STALE_SECONDS"]
    reap_every = max(POLL_S, app.config["RETRAIN_HEARTBEAT_SECONDS"])
    last_reap = 0.0
    log.info("retrain worker %s polling for jobs", os.getpid())
    parent = int(os.environ.get("RETRAIN_PARENT_PID", "0") or 0)
    while not stop.is_set():
        if parent and os.getppid() != parent:
            log.warning("gunicorn master %s is gone; retrain process %s exits", parent, os.getpid())
            return
        job_id = None
        try:
            with app.app_context():
                if time.monotonic() - last_reap >= reap_every:
                    if reap_stale(stale):
                        log.warning("marked interrupted retrain job(s) as failed")
                    last_reap = time.monotonic()
                candidate = next_queued()
                if candidate is not None and claim(candidate):
                    job_id = candidate
                db.session.remove()
        except Exception:  # noqa: BLE001 - database hiccup: keep polling
            log.warning("retrain worker poll failed", exc_info=True)
        if job_id is not None:
            try:
                run_job(app, job_id)
            except SystemExit:
                _fail_on_exit(app, job_id)
                raise
            continue
        stop.wait(POLL_S)


def _fail_on_exit(app: Flask, job_id: int) -> None:
    # Stopped mid-job (SIGTERM): say so now instead of leaving it to the stale-heartbeat check.
    with app.app_context():
        db.session.rollback()
        update_job(
            job_id,
            status="failed",
            active_lock=None,
            step="interrupted",
            error="interrupted: the retrain worker was stopped",
            finished_at=utcnow(),
        )
        db.session.remove()


def serve_rq(app: Flask) -> None:
    from redis import Redis
    from rq import Queue, Worker

    tasks.set_app(app)
    connection = Redis.from_url(app.config["REDIS_URL"])
    queue = Queue(retrain_queue_name(app), connection=connection)
    log.info("RQ retrain worker %s on queue %s", os.getpid(), queue.name)
    Worker([queue], connection=connection).work(with_scheduler=False)


def main() -> None:
    app = create_app()
    lower_priority(
        int(os.environ.get("RETRAIN_NICE", "19")), os.environ.get("RETRAIN_SCHED_IDLE", "1") != "0"
    )
    limit_cpu(float(os.environ.get("RETRAIN_CPU_SHARE", "0.3")))
    if app.config["SCHEDULER_ENABLED"]:
        # A scheduler candidate that needs no request to start (the serving workers' start lazily).
        ensure_scheduler(app)
    if app.config["RETRAIN_EXECUTOR"] == "rq":
        serve_rq(app)
        return
    stop = threading.Event()

    def _stop(*_args: object) -> None:
        stop.set()
        raise SystemExit(0)  # also ends a running job (marked failed on the way out)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop)
    try:
        serve_embedded(app, stop)
    except SystemExit:
        pass
    finally:
        stop_scheduler(app)  # hand the scheduler lease over now, not when it expires


if __name__ == "__main__":
    main()
