"""Passwords, users and the token blocklist."""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.auth.models import ROLES, RevokedToken, User
from app.errors import ApiError
from app.extensions import bcrypt, db, namespaced
from app.timeutil import utcnow

log = logging.getLogger(__name__)
BCRYPT_MAX_BYTES = 72  # bcrypt ignores (bcrypt 5 refuses) anything longer
MIN_PASSWORD = 8

_dummy_lock = threading.Lock()


def hash_password(password: str) -> str:
    return bcrypt.generate_password_hash(password).decode("utf-8")


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ApiError(422, f"Password must be at least {MIN_PASSWORD} characters.", "weak_password")
    if len(password.encode("utf-8")) > BCRYPT_MAX_BYTES:
        raise ApiError(422, f"Password must be at most {BCRYPT_MAX_BYTES} bytes.", "password_too_long")


def _dummy_hash() -> str:
    # A real hash at the configured cost, made once per app, so that a login for an unknown
    # user spends the same bcrypt time as one with a wrong password (no user enumeration).
    ext = current_app.extensions
    if "digitserve.dummy_hash" not in ext:
        with _dummy_lock:
            ext.setdefault("digitserve.dummy_hash", hash_password("not-a-real-password-0"))
    return ext["digitserve.dummy_hash"]


def authenticate(username: str, password: str) -> User | None:
    """The user for a correct password, None otherwise, in constant time either way."""
    user = db.session.scalar(select(User).where(User.username == username))
    if len(password.encode("utf-8")) > BCRYPT_MAX_BYTES:
        password = password.encode("utf-8")[:BCRYPT_MAX_BYTES].decode("utf-8", "ignore")
    hashed = user.password_hash if user is not None else _dummy_hash()
    ok = bcrypt.check_password_hash(hashed, password)  # constant-time compare inside bcrypt
    if user is None or not ok or not user.active:
        return None
    return user


def create_user(username: str, password: str, role: str = "user", email: str | None = None) -> User:
    if role not in ROLES:
        raise ApiError(422, f"Unknown role {role!r}.")
    check_password_policy(password)
    user = User(username=username, email=email, password_hash=hash_password(password), role=role)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, f"Username {username!r} is already taken.", "username_taken") from None
    return user


# --- token blocklist -------------------------------------------------------------------------


def _redis():
    return current_app.extensions.get("digitserve.redis")


def _token_store_down(exc: Exception) -> ApiError:
    # Fail closed: without the blocklist a revoked token cannot be told from a valid one.
    log.warning("token blocklist (Redis) unavailable: %s", exc)
    return ApiError(503, "The token store is unavailable; try again shortly.", "token_store_unavailable")


def revoke_token(jti: str, token_type: str, user_id: int | None, expires_at: datetime) -> None:
    client = _redis()
    if client is not None:
        ttl = max(1, int((expires_at - utcnow()).total_seconds()) + 1)
        try:
            client.set(namespaced(f"revoked:{jti}"), "1", ex=ttl)
        except RedisError as exc:
            raise _token_store_down(exc) from None
        _remember_revoked(jti)
        return
    db.session.add(RevokedToken(jti=jti, token_type=token_type, user_id=user_id, expires_at=expires_at))
    try:
        db.session.commit()
    except IntegrityError:  # already revoked (twice, or concurrently): in the list, which is the goal
        db.session.rollback()
    _remember_revoked(jti)


def _remember_revoked(jti: str) -> None:
    # This process's cache learns at once; other workers' caches within AUTH_CACHE_SECONDS.
    from app.auth.cache import FOREVER

    cache = current_app.extensions.get("digitserve.revoked_cache")
    if cache is not None:
        cache.put(jti, True, FOREVER)


def is_revoked(jti: str) -> bool:
    client = _redis()
    if client is not None:
        try:
            return bool(client.exists(namespaced(f"revoked:{jti}")))
        except RedisError as exc:
            raise _token_store_down(exc) from None
    return db.session.scalar(select(RevokedToken.id).where(RevokedToken.jti == jti)) is not None
