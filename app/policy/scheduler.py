"""The scheduler: one daemon thread per process (a greenlet under gunicorn's gevent workers), of
which exactly one per deployment acts at a time, however many workers, retrain processes or hosts
run one: each tick, the thread takes or renews the "scheduler" database lease (app/policy/lease.py)
and only the holder runs PERIODIC_TASKS. A holder that dies stops renewing; another process takes
over once the lease expires (SCHEDULER_LEASE_SECONDS)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from flask import Flask

from app.ab.analysis import check_srm
from app.ab.service import current_config
from app.extensions import db
from app.monitoring import check_alarms
from app.policy.lease import acquire, new_holder, release
from app.policy.service import run_retrain_policy
from app.rollout.service import advance_rollouts
from app.state import periodic_last_run, scheduler, set_scheduler

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"

PeriodicTask = Callable[[Flask], object]


def advance_rollouts_task(app: Flask) -> object:
    return advance_rollouts()


def _due(app: Flask, task: str, every: float) -> bool:
    """True, and noted, when `task` last ran in this process at least `every` seconds ago."""
    last, now = periodic_last_run(app), time.monotonic()
    if now - last.get(task, float("-inf")) < every:
        return False
    last[task] = now
    return True


def check_drift_task(app: Flask) -> object:
    """check_alarms at most every MONITORING_CACHE_SECONDS: its permutation tests cost CPU in a
    serving process, and a window of recent predictions moves slowly."""
    if not _due(app, "drift", app.config["MONITORING_CACHE_SECONDS"]):
        return None
    return check_alarms(app)


def check_srm_task(app: Flask) -> object:
    """The running A/B phase's sample-ratio check every AB_SRM_CHECK_SECONDS (app/ab/analysis.py):
    one grouped read of the phase's predictions; its alarm is sent once per phase."""
    every = app.config["AB_SRM_CHECK_SECONDS"]
    if every <= 0 or not _due(app, "srm", every):
        return None
    return check_srm(current_config().experiment)


# Run in order by the lease holder on every tick, inside an app context; each must be short
# (well under the lease) and is isolated: one failing does not stop the others.
# The drift check first, so the policy reads a fresh alarm; rollouts also advance without new
# feedback (a canary stage waits for served predictions, not verdicts).
PERIODIC_TASKS: list[PeriodicTask] = [
    check_drift_task,
    run_retrain_policy,
    advance_rollouts_task,
    check_srm_task,
]


class Scheduler:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.owner = new_holder()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
        self.pid = os.getpid()
        self.ticks = 0  # ticks run
        self.held = 0  # ticks in which this process held the lease (and ran the tasks)
        self.holding = False  # after the last tick

    def start(self) -> Scheduler:
        self.thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread and hand the lease over at once (instead of after it expires)."""
        self.stop_event.set()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout)
        with self.app.app_context():
            try:
                release(LEASE_NAME, self.owner)
            except Exception:  # noqa: BLE001 - the lease then expires by itself
                db.session.rollback()
                log.warning("could not release the scheduler lease", exc_info=True)
            finally:
                db.session.remove()

    def tick(self) -> bool:
        """One tick: True if this process held the lease and ran the periodic tasks."""
        with self.app.app_context():
            held = False
            try:
                held = acquire(LEASE_NAME, self.owner, self.app.config["SCHEDULER_LEASE_SECONDS"])
                if held != self.holding:  # a change of scheduler is worth a line in the log
                    log.info("%s the scheduler lease: %s", "took" if held else "lost", self.owner)
                    self.holding = held
                if not held:
                    return False
                for task in list(PERIODIC_TASKS):
                    self._run_task(task)
                return True
            except Exception:  # noqa: BLE001 - e.g. the database is down: try again next tick
                db.session.rollback()
                log.warning("scheduler tick failed", exc_info=True)
                return False
            finally:
                # Counted once the lease was decided, `held` first: a reader never sees a tick
                # without its lease count (it saw ticks - 1 while the acquire's round trip ran).
                self.held += int(held)
                self.ticks += 1
                db.session.remove()

    def _run_task(self, task: PeriodicTask) -> None:
        try:
            task(self.app)
        except Exception:  # noqa: BLE001 - one failing duty must not stop the others
            db.session.rollback()
            log.warning("periodic task %s failed", getattr(task, "__name__", task), exc_info=True)

    def _run(self) -> None:
        interval = self.app.config["SCHEDULER_TICK_SECONDS"]
        while not self.stop_event.is_set():
            self.tick()
            self.stop_event.wait(interval)


_lock = threading.Lock()


def ensure_scheduler(app: Flask) -> Scheduler:
    """This process's scheduler for `app`, started if it is not running (or was forked away)."""
    current = scheduler(app)
    if current is not None and current.pid == os.getpid() and current.thread.is_alive():
        return current
    with _lock:
        current = scheduler(app)
        if current is None or current.pid != os.getpid() or not current.thread.is_alive():
            current = Scheduler(app).start()
            set_scheduler(app, current)
            log.info("scheduler started: %s", current.owner)
        return current


def stop_scheduler(app: Flask) -> None:
    current = scheduler(app)
    set_scheduler(app, None)
    if current is not None and current.pid == os.getpid():
        current.stop()
