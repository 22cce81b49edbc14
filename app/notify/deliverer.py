"""The background deliverer: one daemon thread per serving process (a greenlet under gunicorn's
gevent workers, whose threading is patched), started lazily by the first request, so it also runs
in a worker forked after create_app (gunicorn --preload). Each tick is bounded (NOTIFY_BATCH rows,
short timeouts); the database claim makes any number of deliverers safe."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid

from flask import Flask

from app.extensions import db
from app.notify.outbox import deliver_due
from app.state import notify_deliverer, set_notify_deliverer

log = logging.getLogger(__name__)


class Deliverer:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="notify-deliverer", daemon=True)
        self.pid = os.getpid()

    def start(self) -> Deliverer:
        self.thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        if self.thread.is_alive():
            self.thread.join(timeout)

    def tick(self) -> int:
        with self.app.app_context():
            try:
                return deliver_due(self.owner)
            except Exception:  # noqa: BLE001 - e.g. the database is down: retry next tick
                db.session.rollback()
                log.warning("notification tick failed", exc_info=True)
                return 0
            finally:
                db.session.remove()

    def _run(self) -> None:
        interval = self.app.config["NOTIFY_POLL_SECONDS"]
        while not self.stop_event.is_set():
            if self.tick() == 0:
                self.stop_event.wait(interval)


_lock = threading.Lock()


def ensure_deliverer(app: Flask) -> Deliverer:
    """This process's deliverer for `app`, started if it is not running (or was forked away)."""
    current = notify_deliverer(app)
    if current is not None and current.pid == os.getpid() and current.thread.is_alive():
        return current
    with _lock:
        current = notify_deliverer(app)
        if current is None or current.pid != os.getpid() or not current.thread.is_alive():
            current = Deliverer(app).start()
            set_notify_deliverer(app, current)
        return current


def stop_deliverer(app: Flask) -> None:
    current = notify_deliverer(app)
    set_notify_deliverer(app, None)
    if current is not None:
        current.stop()
