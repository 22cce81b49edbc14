"""Token semantics: every token is bound to its user's stamp and to a login session.

- ``stm``: the user's ``token_stamp``, changed by "log out everywhere", a password change, a role
  or status change; a token whose stamp differs is dead. Deleted users' ids are never reused
  (AUTOINCREMENT) and a new user gets a new stamp, so an old token cannot sign in as them.
- ``sid``: the login session. Logout revokes the session (its access and refresh tokens alike).
- Refresh tokens rotate: each use revokes the presented one and returns a new pair; presenting a
  used (revoked) refresh token again is reuse — someone copied it — and revokes the whole session.

``user_for_claims`` is the one check of a decoded token against the stored user, used by the
HTTP requests and the Socket.IO handshake and re-checks (a cache may wrap it later).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token

from app.auth.models import User
from app.extensions import db
from app.timeutil import utcnow


def new_stamp() -> str:
    return secrets.token_hex(16)


def new_session_id() -> str:
    return secrets.token_hex(12)


def stamp_claims(identity: Any) -> dict[str, Any]:
    """Extra claims for every token made for `identity` (JWT additional_claims_loader)."""
    sub = str(identity)
    user = db.session.get(User, int(sub)) if sub.isdigit() else None
    return {"stm": user.token_stamp} if user is not None else {}


def active_user(user_id: int) -> Any:
    """The user row with this id if the account is active, else None."""
    user = db.session.get(User, user_id)
    return user if user is not None and user.active else None


def user_for_claims(claims: dict[str, Any], load: Callable[[int], Any] | None = None) -> Any:
    """The active user a decoded token speaks for, or None: unknown id, disabled account, or a
    stamp that changed since the token was made. ``load`` (default ``active_user``) fetches the
    active user by id; the request path passes a cached one."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.isdigit() or len(sub) > 18:
        return None
    user = (load or active_user)(int(sub))
    if user is None:
        return None
    stamp = claims.get("stm")
    if not isinstance(stamp, str) or not secrets.compare_digest(stamp, user.token_stamp or ""):
        return None
    return user


def issue_tokens(user: Any, session_id: str | None = None) -> dict[str, Any]:
    sid = session_id or new_session_id()
    identity = str(user.id)
    return {
        "access_token": create_access_token(identity=identity, additional_claims={"sid": sid}),
        "refresh_token": create_refresh_token(identity=identity, additional_claims={"sid": sid}),
        "token_type": "bearer",
        "expires_in": int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()),
    }


def claims_expiry(claims: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(claims["exp"], UTC).replace(tzinfo=None)


def session_expiry() -> datetime:
    """When the longest-lived token of a session made now expires (its refresh token)."""
    return utcnow() + current_app.config["JWT_REFRESH_TOKEN_EXPIRES"]


def revoke_claims(claims: dict[str, Any]) -> None:
    from app.auth.services import revoke_token  # in the function: services imports this module

    sub = str(claims.get("sub", ""))
    user_id = int(sub) if sub.isdigit() else None
    revoke_token(claims["jti"], claims.get("type", "access"), user_id, claims_expiry(claims))


def revoke_session(claims: dict[str, Any]) -> None:
    """Revoke every token of the login session of `claims` (both tokens carry the same sid)."""
    from app.auth.services import revoke_token  # in the function: services imports this module

    sid = claims.get("sid")
    sub = str(claims.get("sub", ""))
    if isinstance(sid, str) and sid:
        revoke_token(session_key(sid), "session", int(sub) if sub.isdigit() else None, session_expiry())
    revoke_claims(claims)


def session_key(sid: str) -> str:
    # Stored beside token jtis in the one blocklist; the prefix cannot collide with a uuid jti.
    return f"session:{sid}"

