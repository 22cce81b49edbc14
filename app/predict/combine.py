"""Requests that predict at the same moment share one model call and one commit.

Under load a worker holds several requests at once (gevent: one greenlet each). The first to
reach the model becomes the leader: it yields once, so the requests already under way catch up
and queue behind it, then answers the whole queue with one vectorised model call per model and
one INSERT + COMMIT for all their rows, and wakes the others with their answers. Requests that
queue meanwhile are answered by the next leader, the first of them (each leader answers its own
request once, no leader is kept busy forever). Alone, a request leads itself: one yield costs a
few microseconds.

Only for server databases (PostgreSQL): there a commit waits on the network, and the requests
that arrive meanwhile form the next batch (measured: 5 or more requests per commit at 32
clients). SQLite's commit never yields, so its batches stayed at one request (measured: 1.00)
while the extra yield cost fairness: SQLite requests are answered alone.

Nothing is answered before its row is committed: a failed commit fails every request of the batch
(each answers the error through its own handler); no row of the batch is written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Job:
    """One request's share of a batch: what to predict, then its outcome."""

    payload: Any
    result: Any = None
    error: BaseException | None = None
    lead: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class Combiner:
    """Flat combining: `submit` returns the job's result, computed by whichever request leads."""

    def __init__(self, answer: Callable[[list[Job]], None]) -> None:
        # `answer(jobs)` sets each job's result or error.
        self._answer = answer
        self._lock = threading.Lock()
        self._queue: list[Job] = []
        self._busy = False
        self.batches = 0  # answered batches and requests (tests read them)
        self.jobs = 0

    def submit(self, job: Job) -> Any:
        with self._lock:
            self._queue.append(job)
            lead = job.lead = not self._busy
            self._busy = True
        if not lead:
            job.done.wait()
            if not job.lead:  # answered by a leader
                return job.outcome()
        try:
            time.sleep(0)  # a greenlet switch under gevent: let concurrent requests queue up
            with self._lock:
                batch, self._queue = self._queue, []
            self._run(batch)
        finally:
            self._hand_over()
        return job.outcome()

    def _run(self, batch: list[Job]) -> None:
        try:
            self._answer(batch)
        except BaseException as exc:  # noqa: BLE001 - every request of the batch answers it
            for job in batch:
                if job.result is None and job.error is None:
                    job.error = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            self.batches += 1
            self.jobs += len(batch)
            for job in batch:
                job.lead = False
                job.done.set()

    def _hand_over(self) -> None:
        with self._lock:
            if not self._queue:
                self._busy = False
                return
            nxt = self._queue[0]
            nxt.lead = True
        nxt.done.set()
