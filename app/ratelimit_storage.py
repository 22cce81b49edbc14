"""Rate-limit counters shared by every worker of one machine, without a server: a SQLite file on
tmpfs (`sqlite-limits:///dev/shm/...`), the embedded default when REDIS_URL is not set.

limits' MemoryStorage counts per process (with one gunicorn worker per core, a client would get
its limit once per worker) and starts a timer thread on most hits. Here a hit is one UPSERT
statement in autocommit mode (atomic across processes through SQLite's lock, ~tens of µs on
tmpfs); a fixed window restarts when its expiry has passed. Counters are not durable (synchronous
off): a machine restart resets the windows, as it does for Redis without persistence.

Both storages here (this one and `redis+window://`, used for REDIS_URL) answer a request's
X-RateLimit-* headers from its own hit: Flask-Limiter reads the window back after the view (a
count and an expiry: two more round trips per request), while the hit has just returned both.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import urllib.parse
from contextvars import ContextVar

from flask import Flask
from limits.storage import RedisStorage, Storage

from app.filelock import FileLock

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS hits (key TEXT PRIMARY KEY, count INTEGER NOT NULL, expiry REAL NOT NULL)"
)
_INCR = """
INSERT INTO hits (key, count, expiry) VALUES (:key, :amount, :expiry)
ON CONFLICT (key) DO UPDATE SET
  count = CASE WHEN hits.expiry <= :now THEN :amount ELSE hits.count + :amount END,
  expiry = CASE WHEN hits.expiry <= :now THEN :expiry ELSE hits.expiry END
RETURNING count, expiry
"""
SWEEP_EVERY = 5000  # hits between deletions of expired windows

# key -> (count, expiry) of the hits made by the current request; None outside a request.
_own_hits: ContextVar[dict[str, tuple[int, float]] | None] = ContextVar("own_limit_hits", default=None)


def begin_own_hits() -> None:
    """From here on (in this thread or greenlet) hits are remembered: a request has begun."""
    _own_hits.set({})


def end_own_hits(_exc: BaseException | None = None) -> None:
    _own_hits.set(None)


def init_own_hits(app: Flask) -> None:
    """Each request starts with no hits of its own (registered ahead of Flask-Limiter's hooks)."""
    app.before_request(begin_own_hits)
    app.teardown_request(end_own_hits)


class OwnHits:
    """Remembers the current request's hits, and answers reads of those keys from them.

    The count a hit returned is the window's count just after it (every worker's hits included),
    which is what the request's X-RateLimit-Remaining should say; reading again could only add
    the hits of requests that came after it.
    """

    @staticmethod
    def _note(key: str, count: int, expiry: float) -> None:
        hits = _own_hits.get()
        if hits is not None:
            hits[key] = (count, expiry)

    @staticmethod
    def _noted(key: str) -> tuple[int, float] | None:
        hits = _own_hits.get()
        return None if hits is None else hits.get(key)

    def get(self, key: str) -> int:
        noted = self._noted(key)
        return noted[0] if noted else self._read_count(key)

    def get_expiry(self, key: str) -> float:
        noted = self._noted(key)
        return noted[1] if noted else self._read_expiry(key)

    def _read_count(self, key: str) -> int:
        raise NotImplementedError

    def _read_expiry(self, key: str) -> float:
        raise NotImplementedError

    @staticmethod
    def _forget(key: str | None = None) -> None:
        hits = _own_hits.get()
        if hits is not None and key is not None:
            hits.pop(key, None)
        elif hits is not None:
            hits.clear()


class SqliteLimitsStorage(OwnHits, Storage):
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
            count, until = db.execute(
                _INCR, {"key": key, "amount": amount, "expiry": now + expiry, "now": now}
            ).fetchone()
            self._hits += 1
            if self._hits % SWEEP_EVERY == 0:
                db.execute("DELETE FROM hits WHERE expiry <= ?", (now,))
        self._note(key, int(count), float(until))
        return int(count)

    def _read_count(self, key: str) -> int:
        with self._lock:
            row = (
                self._db()
                .execute("SELECT count FROM hits WHERE key = ? AND expiry > ?", (key, time.time()))
                .fetchone()
            )
        return int(row[0]) if row else 0

    def _read_expiry(self, key: str) -> float:
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
        self._forget()
        with self._lock:
            return self._db().execute("DELETE FROM hits").rowcount

    def clear(self, key: str) -> None:
        self._forget(key)
        with self._lock:
            self._db().execute("DELETE FROM hits WHERE key = ?", (key,))


# limits' incr_expire.lua, also answering the key's remaining time to live.
_INCR_TTL = """
local current = redis.call("incrby", KEYS[1], tonumber(ARGV[2]))
if current == tonumber(ARGV[2]) then
    redis.call("expire", KEYS[1], ARGV[1])
end
return {current, redis.call("ttl", KEYS[1])}
"""


class RedisWindowStorage(OwnHits, RedisStorage):
    """limits' Redis storage (`redis+window://` or `rediss+window://` for a `redis(s)://` URL),
    whose hits also answer the request's header reads: one round trip per limit, not three."""

    STORAGE_SCHEME = ["redis+window", "rediss+window"]

    def __init__(self, uri: str, **options: float | str | bool) -> None:
        super().__init__(uri.replace("+window://", "://", 1), **options)

    def initialize_storage(self, uri: str) -> None:
        super().initialize_storage(uri)
        self.lua_incr_ttl = self.get_connection().register_script(_INCR_TTL)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        count, ttl = self.lua_incr_ttl([self.prefixed_key(key)], [expiry, amount])
        # get_expiry's own formula (limits' RedisStorage), from the same TTL.
        self._note(key, int(count), max(int(ttl), 0) + time.time())
        return int(count)

    def _read_count(self, key: str) -> int:
        return RedisStorage.get(self, key)

    def _read_expiry(self, key: str) -> float:
        return RedisStorage.get_expiry(self, key)

    def clear(self, key: str) -> None:
        self._forget(key)
        super().clear(key)

    def reset(self) -> int | None:
        self._forget()
        return super().reset()


def window_storage_uri(uri: str) -> str:
    """The storage URI Flask-Limiter is given: plain Redis URLs get RedisWindowStorage."""
    for scheme in ("redis://", "rediss://"):
        if uri.startswith(scheme):
            return f"{scheme[:-3]}+window://{uri[len(scheme):]}"
    return uri
