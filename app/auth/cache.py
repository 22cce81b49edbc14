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


class TtlCache:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._data: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], Any], keep: Callable[[Any], bool] | None = None) -> Any:
        """The cached value for key if fresh, else load() (cached unless keep(value) is False)."""
        now = time.monotonic()
        hit = self._data.get(key, _MISSING)
        if hit is not _MISSING and hit[0] > now:
            return hit[1]
        value = load()
        if self.ttl > 0 and (keep is None or keep(value)):
            self.put(key, value)
        return value

    def put(self, key: Hashable, value: Any, ttl: float | None = None) -> None:
        with self._lock:
            if len(self._data) >= MAX_ENTRIES:
                self._data.clear()
            self._data[key] = (time.monotonic() + (self.ttl if ttl is None else ttl), value)

    def discard(self, key: Hashable) -> None:
        with self._lock:
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
