"""Passwords, users and the token blocklist."""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.auth.cache import FOREVER
from app.auth.models import ROLES, RevokedToken, User
from app.auth.strength import password_problem
from app.auth.tokens import new_stamp, session_key
from app.errors import ApiError
from app.extensions import bcrypt, db, namespaced
from app.realtime.guard import disconnect_user
from app.state import dummy_hash, redis_client, revoked_cache, set_dummy_hash
from app.timeutil import utcnow

log = logging.getLogger(__name__)
BCRYPT_MAX_BYTES = 72  # bcrypt ignores (bcrypt 5 refuses) anything longer

_dummy_lock = threading.Lock()


def hash_password(password: str) -> str:
    return bcrypt.generate_password_hash(password).decode("utf-8")


def check_password_policy(password: str, username: str | None = None) -> None:
    """Refuse passwords an attacker tries first: short, common (zxcvbn's list), simple patterns,
    or built from the username."""
    if len(password.encode("utf-8")) > BCRYPT_MAX_BYTES:
        raise ApiError(422, f"Password must be at most {BCRYPT_MAX_BYTES} bytes.", "password_too_long")
    problem = password_problem(password, [username] if username else None)
    if problem:
        raise ApiError(422, problem, "weak_password")


def _dummy_hash() -> str:
    # A real hash at the configured cost, made once per app, so that a login for an unknown
    # user spends the same bcrypt time as one with a wrong password (no user enumeration).
    found = dummy_hash()
    if found is None:
        with _dummy_lock:
            found = dummy_hash() or hash_password("not-a-real-password-0")
            set_dummy_hash(current_app, found)
    return found


def find_user(username: str) -> User | None:
    """The user of that name in any letter case (names are unique without regard to case)."""
    return db.session.scalar(select(User).where(func.lower(User.username) == username.lower()))


def authenticate(username: str, password: str) -> User | None:
    """The user for a correct password, None otherwise, in constant time either way."""
    user = find_user(username)
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
    check_password_policy(password, username)
    user = User(username=username, email=email, password_hash=hash_password(password), role=role)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, f"Username {username!r} is already taken.", "username_taken") from None
    return user


# --- token blocklist -------------------------------------------------------------------------


def _token_store_down(exc: Exception) -> ApiError:
    # Fail closed: without the blocklist a revoked token cannot be told from a valid one.
    log.warning("token blocklist (Redis) unavailable: %s", exc)
    return ApiError(503, "The token store is unavailable; try again shortly.", "token_store_unavailable")


def revoke_token(jti: str, token_type: str, user_id: int | None, expires_at: datetime) -> None:
    client = redis_client()
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
    cache = revoked_cache()
    if cache is not None:
        cache.put(jti, True, FOREVER)


def is_revoked(*jtis: str) -> bool:
    """Whether any of these blocklist keys (a token's jti, its session's key) is revoked."""
    keys = [k for k in jtis if k]
    if not keys:
        return False
    client = redis_client()
    if client is not None:
        try:
            return bool(client.exists(*(namespaced(f"revoked:{k}") for k in keys)))
        except RedisError as exc:
            raise _token_store_down(exc) from None
    return db.session.scalar(select(RevokedToken.id).where(RevokedToken.jti.in_(keys)).limit(1)) is not None


def claims_revoked(claims: dict) -> bool:
    sid = claims.get("sid")
    return is_revoked(claims["jti"], session_key(sid) if isinstance(sid, str) and sid else "")


# --- account changes that end sessions -------------------------------------------------------


def end_all_sessions(user: User, reason: str) -> None:
    """New stamp (every token of the user dies) and close the user's open sockets on every
    worker. Called for "log out everywhere", a password change, demotion and deactivation."""
    user.token_stamp = new_stamp()
    db.session.commit()
    disconnect_user(user.id, reason)


def change_password(user: User, current: str, new: str) -> None:
    if authenticate(user.username, current) is None:
        raise ApiError(401, "The current password is wrong.", "invalid_credentials")
    check_password_policy(new, user.username)
    user.password_hash = hash_password(new)
    end_all_sessions(user, "password changed")


def update_user(user: User, role: str | None = None, active: bool | None = None) -> User:
    """Change a user's role or status; a demotion or deactivation ends every session at once."""
    if role is not None and role not in ROLES:
        raise ApiError(422, f"Unknown role {role!r}.")
    role_changed = role is not None and role != user.role
    disabled = active is False and user.active
    if role is not None:
        user.role = role
    if active is not None:
        user.active = active
    if role_changed or disabled:
        end_all_sessions(user, "account disabled" if disabled else f"role changed to {user.role}")
    else:
        db.session.commit()
    return user
