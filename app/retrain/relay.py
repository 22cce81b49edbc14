"""Retrain events for sockets when the retrain runs in another process and there is no Redis.

With REDIS_URL, the retrain process emits through Socket.IO's Redis message queue and every
worker's clients get the events. The embedded default has no message queue: each serving worker
then watches the newest job row (one indexed query every POLL_S while sockets are connected) and
emits `retrain_progress` / `retrain_finished` / `model_promoted` to its own clients.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask
from sqlalchemy import select

from app.extensions import db, socketio
from app.realtime import notify_model_promoted, notify_retrain_finished, notify_retrain_progress
from app.retrain.jobs import job_event
from app.retrain.models import ACTIVE_STATUSES, RetrainJob

log = logging.getLogger(__name__)
POLL_S = 0.5
_started: set[int] = set()
_lock = threading.Lock()


def needed(app: Flask) -> bool:
    return app.config["RETRAIN_EXECUTOR"] != "thread" and not app.config.get("REDIS_URL")


def ensure_started(app: Flask) -> None:
    """Start this process's relay for `app` once (on the first socket connect)."""
    if not needed(app):
        return
    with _lock:
        if id(app) in _started:
            return
        _started.add(id(app))

    socketio.start_background_task(_watch, app)


def _watch(app: Flask) -> None:
    seen: dict[int, tuple[str, int, str | None]] = {}
    first = True
    while True:
        try:
            with app.app_context():
                job = db.session.scalar(select(RetrainJob).order_by(RetrainJob.id.desc()).limit(1))
                if job is not None:
                    state = (job.status, job.progress, job.step)
                    before = seen.get(job.id)
                    if first:
                        pass  # only changes after start-up are news
                    elif before != state and job.status in ACTIVE_STATUSES:
                        notify_retrain_progress(job.id, job.progress, job.step or "")
                    elif before != state:
                        notify_retrain_finished(job_event(job))
                        if job.promoted and job.params:
                            notify_model_promoted(job.target_alias, job.registered_version)
                    seen = {job.id: state}
                first = False
                db.session.remove()
        except Exception:  # noqa: BLE001 - database hiccup: try again next round
            log.warning("retrain relay poll failed", exc_info=True)
        socketio.sleep(POLL_S)
