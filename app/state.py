"""Typed accessors for the objects each app holds (its model store, Redis client, caches...).

They live in `app.extensions` under "digitserve.*" keys; this module is the only place that
spells those keys, so a reader (and a type checker) sees what each one is. Every accessor takes
the app, or uses current_app.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

if TYPE_CHECKING:
    import redis

    from app.auth.cache import TtlCache
    from app.filelock import FileLock
    from app.ml.store import ModelStore
    from app.notify.deliverer import Deliverer
    from app.policy.scheduler import Scheduler
    from app.realtime.connections import SocketGuard
    from app.rollout.serving import RolloutCache

ReadinessCheck = Callable[[], None]  # raises when the part is not ready

_MODELS = "digitserve.models"
_REDIS = "digitserve.redis"
_SQLITE_WRITE_LOCK = "digitserve.sqlite_write_lock"
_USER_CACHE = "digitserve.user_cache"
_REVOKED_CACHE = "digitserve.revoked_cache"
_SOCKET_GUARD = "digitserve.socket_guard"
_READINESS = "digitserve.readiness"
_DUMMY_HASH = "digitserve.dummy_hash"
_NOTIFY_DELIVERER = "digitserve.notify_deliverer"
_AB_POSTERIORS = "digitserve.ab_posteriors"
_ROLLOUT_CACHE = "digitserve.rollout_cache"
_AFTER_FEEDBACK = "digitserve.after_feedback"
_SCHEDULER = "digitserve.scheduler"
_MONITORING_CACHE = "digitserve.monitoring_cache"
_PERIODIC_LAST_RUN = "digitserve.periodic_last_run"


def _extensions(app: Flask | None) -> dict[str, Any]:
    return (app or current_app).extensions


def set_model_store(app: Flask, store: ModelStore) -> None:
    _extensions(app)[_MODELS] = store


def model_store(app: Flask | None = None) -> ModelStore:
    """The process's ModelStore, made by init_predict."""
    store = _extensions(app).get(_MODELS)
    if store is None:
        raise RuntimeError("no model store: init_predict(app) has not run for this app")
    return store


def model_store_or_none(app: Flask | None = None) -> ModelStore | None:
    return _extensions(app).get(_MODELS)


def set_redis_client(app: Flask, client: redis.Redis) -> None:
    _extensions(app)[_REDIS] = client


def redis_client(app: Flask | None = None) -> redis.Redis | None:
    """The app's Redis client (bounded timeouts), or None without REDIS_URL."""
    return _extensions(app).get(_REDIS)


def set_sqlite_write_lock(app: Flask, lock: FileLock) -> None:
    _extensions(app)[_SQLITE_WRITE_LOCK] = lock


def sqlite_write_lock(app: Flask | None = None) -> FileLock | None:
    """The workers' shared write lock of a file-backed SQLite database, else None."""
    return _extensions(app).get(_SQLITE_WRITE_LOCK)


def set_auth_caches(app: Flask, users: TtlCache, revoked: TtlCache) -> None:
    _extensions(app)[_USER_CACHE] = users
    _extensions(app)[_REVOKED_CACHE] = revoked


def user_cache(app: Flask | None = None) -> TtlCache | None:
    return _extensions(app).get(_USER_CACHE)


def revoked_cache(app: Flask | None = None) -> TtlCache | None:
    return _extensions(app).get(_REVOKED_CACHE)


def set_socket_guard(app: Flask, guard: SocketGuard) -> None:
    _extensions(app)[_SOCKET_GUARD] = guard


def socket_guard(app: Flask | None = None) -> SocketGuard | None:
    return _extensions(app).get(_SOCKET_GUARD)


def readiness_checks(app: Flask | None = None) -> dict[str, ReadinessCheck]:
    """Parts besides the database that /health/ready must find working (mutable)."""
    return _extensions(app).setdefault(_READINESS, {})


def set_dummy_hash(app: Flask, value: str) -> None:
    _extensions(app)[_DUMMY_HASH] = value


def dummy_hash(app: Flask | None = None) -> str | None:
    """A bcrypt hash at the app's cost that no password matches (timing of unknown-user logins)."""
    return _extensions(app).get(_DUMMY_HASH)


def notify_deliverer(app: Flask | None = None) -> Deliverer | None:
    """This app's notification deliverer thread, once started (app.notify.deliverer)."""
    return _extensions(app).get(_NOTIFY_DELIVERER)


def set_notify_deliverer(app: Flask, deliverer: Deliverer | None) -> None:
    if deliverer is None:
        _extensions(app).pop(_NOTIFY_DELIVERER, None)
    else:
        _extensions(app)[_NOTIFY_DELIVERER] = deliverer


def set_ab_posterior_cache(app: Flask, cache: TtlCache) -> None:
    _extensions(app)[_AB_POSTERIORS] = cache


def ab_posterior_cache(app: Flask | None = None) -> TtlCache | None:
    """Thompson mode's per-process cache of the arms' capped feedback counts (init_ab)."""
    return _extensions(app).get(_AB_POSTERIORS)


def set_rollout_cache(app: Flask, cache: RolloutCache) -> None:
    _extensions(app)[_ROLLOUT_CACHE] = cache


def rollout_cache_or_none(app: Flask | None = None) -> RolloutCache | None:
    """This process's cache of the active rollouts (app.rollout.serving), once init_rollout ran."""
    return _extensions(app).get(_ROLLOUT_CACHE)


def after_feedback_hooks(app: Flask | None = None) -> list[Callable[[], None]]:
    """Called after each stored verdict (mutable; features append to it at init)."""
    return _extensions(app).setdefault(_AFTER_FEEDBACK, [])


def scheduler(app: Flask | None = None) -> Scheduler | None:
    """This app's scheduler thread, once started (app.policy.scheduler)."""
    return _extensions(app).get(_SCHEDULER)


def set_scheduler(app: Flask, value: Scheduler | None) -> None:
    if value is None:
        _extensions(app).pop(_SCHEDULER, None)
    else:
        _extensions(app)[_SCHEDULER] = value


def monitoring_cache(app: Flask | None = None) -> dict[Any, Any]:
    """This process's cache of computed monitoring answers (app.monitoring.service), mutable."""
    return _extensions(app).setdefault(_MONITORING_CACHE, {})


def periodic_last_run(app: Flask | None = None) -> dict[str, float]:
    """{periodic task: monotonic time it last ran in this process} (app.policy.scheduler), mutable."""
    return _extensions(app).setdefault(_PERIODIC_LAST_RUN, {})
