"""Short-lived per-process caches in front of the per-request auth lookups.

Every authenticated request reads the token's user (for the live role) and the revocation list.
Both change rarely, so each process keeps an answer for at most AUTH_CACHE_SECONDS (0.5 s by
default): a demotion, deactivation or logout takes effect in every worker within that time,
without any cross-process messaging, while a client sending many requests a second costs one
lookup per interval. A revocation made by this process is seen by it at once; a "revoked" answer
is kept for good (a revoked token never becomes valid again).

The caches wrap the lookup functions and know nothing of how tokens or users are checked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from flask import has_app_context
from sqlalchemy import event, inspect

from app.auth.models import User
from app.state import user_cache

MAX_ENTRIES = 50_000  # bound on memory; the whole cache is dropped beyond it (rare, harmless)

_MISSING = object()


# How long a request waits for another one's load of the same key before loading itself.
LOAD_WAIT_SECONDS = 5.0


class TtlCache:
    """Values kept for `ttl` seconds; one load per key at a time (single flight).

    When an entry expires under load, every request that finds it missing would otherwise run the
    same lookup at once: under gevent a lookup waits on the database, and the requests arriving
    meanwhile miss too, so each expiry sent a burst of identical queries (a stampede that grows
    with concurrency). Here the first miss loads and the others wait for its answer, which is
    at least as fresh as anything they could have loaded themselves.

    A load is not kept when this process wrote to the cache while it ran (`put`, `discard`): a
    revocation or a user change made meanwhile must not be overwritten by what was read before it.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._data: dict[Hashable, tuple[float, Any]] = {}
        self._loading: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()
        self._writes = 0  # put/discard calls so far: a load that saw this change is not kept

    def get(self, key: Hashable, load: Callable[[], Any], keep: Callable[[Any], bool] | None = None) -> Any:
        """The cached value for key if fresh, else load() (cached unless keep(value) is False)."""
        fresh = self._fresh(key)
        if fresh is not _MISSING:
            return fresh
        if self.ttl <= 0:
            return load()
        with self._lock:
            pending = self._loading.get(key)
            leader = pending is None
            if leader:
                pending = self._loading[key] = threading.Event()
        if not leader:
            # Another request is loading this key: take its answer. None kept (keep() said no,
            # or its load failed): load here, as without the cache.
            pending.wait(LOAD_WAIT_SECONDS)
            fresh = self._fresh(key)
            return fresh if fresh is not _MISSING else self._load(key, load, keep)
        try:
            return self._load(key, load, keep)
        finally:
            with self._lock:
                self._loading.pop(key, None)
            pending.set()

    def _fresh(self, key: Hashable) -> Any:
        hit = self._data.get(key, _MISSING)
        return hit[1] if hit is not _MISSING and hit[0] > time.monotonic() else _MISSING

    def _load(self, key: Hashable, load: Callable[[], Any], keep: Callable[[Any], bool] | None) -> Any:
        seen = self._writes
        value = load()
        if keep is None or keep(value):
            with self._lock:
                if self._writes == seen:
                    self._store(key, value, self.ttl)
        return value

    def _store(self, key: Hashable, value: Any, ttl: float) -> None:
        if len(self._data) >= MAX_ENTRIES:
            self._data.clear()
        self._data[key] = (time.monotonic() + ttl, value)

    def put(self, key: Hashable, value: Any, ttl: float | None = None) -> None:
        with self._lock:
            self._writes += 1
            self._store(key, value, self.ttl if ttl is None else ttl)

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._writes += 1
            self._data.pop(key, None)


FOREVER = 10.0 * 365 * 24 * 3600


def user_snapshot(user: Any) -> Any:
    """A detached copy of a User row (every column): safe to share between requests."""
    mapper = inspect(type(user))
    return type(user)(**{attr.key: getattr(user, attr.key) for attr in mapper.column_attrs})


_watching = False


def watch_user_changes() -> None:
    """Drop this process's cached user when the ORM updates or deletes it (others: within the TTL)."""
    global _watching
    if _watching:
        return
    _watching = True

    def _forget(_mapper: Any, _connection: Any, target: Any) -> None:
        if has_app_context():
            cache = user_cache()
            if cache is not None:
                cache.discard(target.id)

    event.listen(User, "after_update", _forget)
    event.listen(User, "after_delete", _forget)
