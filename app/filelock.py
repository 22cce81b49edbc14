"""A fair cross-process write lock for SQLite writers (flock on a file beside the database).

SQLite's busy handler polls with growing sleeps (1, 2, 5 … 100 ms): a process that commits
dozens of times a second keeps re-taking the write lock while the other workers sleep, and one of
them can wait for seconds (with gevent workers, its every connection waits with it). A kernel
lock queues the waiters and wakes one the moment the lock is released, so each waits only for the
commits ahead of it. It is an aid to fairness, not to correctness: SQLite still guarantees that.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class FileLock:
    def __init__(self, path: str, inner: threading.Lock | None = None) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid = 0
        # Serialises this process's own writers first (or the caller's lock, held for the duration).
        self._local = inner or threading.Lock()

    def _file(self) -> int:
        # Opened per process: a descriptor inherited across fork() shares one lock between the
        # processes and would exclude nobody.
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._local:
            fd = self._file()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)


@contextmanager
def nothing() -> Iterator[None]:
    yield
