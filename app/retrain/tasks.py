"""The RQ task: runs one retrain job in an RQ worker (`python -m app.retrain.worker`).

The worker process builds the app once before it starts working (app.retrain.worker); a job
claims its row (queued -> running, owner = this process) so that a job failed meanwhile, e.g.
reaped as stale, is never run, then runs it exactly as the embedded process does.
"""

from __future__ import annotations

import logging
from typing import Any

from app import create_app
from app.extensions import db
from app.retrain.jobs import claim
from app.retrain.runner import run_job

log = logging.getLogger(__name__)

_app: Any = None


def set_app(app: Any) -> None:
    global _app
    _app = app


def run_retrain_job(job_id: int) -> str:
    app = _app or create_app()
    with app.app_context():
        # RQ forks a work horse per job: connections inherited from the parent are not ours.
        db.engine.dispose(close=False)
        claimed = claim(job_id)
        db.session.remove()
    if not claimed:
        log.warning("retrain job %s is no longer queued; skipped", job_id)
        return "skipped"
    run_job(app, job_id)
    return "done"
