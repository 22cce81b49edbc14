"""Rate-limit counters shared by every worker of one machine, without a server: a SQLite file on
tmpfs (`sqlite-limits:///dev/shm/...`), the embedded default when REDIS_URL is not set.

limits' MemoryStorage counts per process (with one gunicorn worker per core, a client would get
its limit once per worker) and starts a timer thread on most hits. Here a hit is one UPSERT
statement in autocommit mode (atomic across processes through SQLite's lock, ~tens of µs on
tmpfs); a fixed window restarts when its expiry has passed. Counters are not durable (synchronous
off): a machine restart resets the windows, as it does for Redis without persistence.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import urllib.parse

from limits.storage import Storage

from app.filelock import FileLock

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS hits (key TEXT PRIMARY KEY, count INTEGER NOT NULL, expiry REAL NOT NULL)"
)
_INCR = """
INSERT INTO hits (key, count, expiry) VALUES (:key, :amount, :expiry)
ON CONFLICT (key) DO UPDATE SET
  count = CASE WHEN hits.expiry <= :now THEN :amount ELSE hits.count + :amount END,
  expiry = CASE WHEN hits.expiry <= :now THEN :expiry ELSE hits.expiry END
RETURNING count
"""
SWEEP_EVERY = 5000  # hits between deletions of expired windows


class SqliteLimitsStorage(Storage):
    STORAGE_SCHEME = ["sqlite-limits"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: float | str | bool):
        path = urllib.parse.urlparse(uri or "").path
        if not path:
            raise ValueError(f"sqlite-limits needs a file path: {uri!r}")
        self.path = path
        # One connection per process, behind a lock: statements never yield (gevent or not), so
        # the lock is never contended for long; a connection per greenlet would be wasteful.
        self._lock = threading.Lock()
        # Writers of every worker queue on a kernel lock instead of SQLite's polling busy handler.
        self._writer = FileLock(f"{path}.lock", inner=self._lock)
        self._conn: sqlite3.Connection | None = None
        self._hits = 0
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return sqlite3.Error

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(_SCHEMA)
            self._conn = conn
        return self._conn

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        with self._writer.hold():
            db = self._db()
            (count,) = db.execute(
                _INCR, {"key": key, "amount": amount, "expiry": now + expiry, "now": now}
            ).fetchone()
            self._hits += 1
            if self._hits % SWEEP_EVERY == 0:
                db.execute("DELETE FROM hits WHERE expiry <= ?", (now,))
        return int(count)

    def get(self, key: str) -> int:
        with self._lock:
            row = (
                self._db()
                .execute("SELECT count FROM hits WHERE key = ? AND expiry > ?", (key, time.time()))
                .fetchone()
            )
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        now = time.time()
        with self._lock:
            row = (
                self._db()
                .execute("SELECT expiry FROM hits WHERE key = ? AND expiry > ?", (key, now))
                .fetchone()
            )
        return float(row[0]) if row else now

    def check(self) -> bool:
        try:
            with self._lock:
                self._db().execute("SELECT 1").fetchone()
            return True
        except sqlite3.Error:
            return False

    def reset(self) -> int | None:
        with self._lock:
            return self._db().execute("DELETE FROM hits").rowcount

    def clear(self, key: str) -> None:
        with self._lock:
            self._db().execute("DELETE FROM hits WHERE key = ?", (key,))
