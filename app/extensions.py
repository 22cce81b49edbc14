"""Extensions are created unbound here and bound to an app in create_app (app factory pattern)."""

from __future__ import annotations

from flask import current_app, g, request
from flask_bcrypt import Bcrypt
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from app.api import JsonApi


class Base(DeclarativeBase):
    # Named constraints, so Alembic can alter them later (SQLite batch mode needs the names).
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


def namespaced(key: str) -> str:
    # The namespace lives in the key itself: the Limiter singleton keeps the key_prefix of the
    # first app it was bound to, while each app (and each test app) needs its own.
    return f"{current_app.config['KEY_NAMESPACE']}:{key}"


def address_key() -> str:
    return namespaced(f"ip:{request.remote_addr or 'unknown'}")


_ADMIN_PREFIXES = ("/admin", "/metrics")


def default_limits() -> str:
    """The limit of a route without its own, per request (and read per request for the same reason
    as namespaced()). Signed-in use is sized for what the pages do: the admin dashboard reloads the
    report on every feedback event and polls a running job every 2 s; a user may send a verdict on
    each of the day's predictions. Anonymous callers keep the tight default."""
    cfg = current_app.config
    if ":user:" in rate_limit_key():
        if request.path.startswith(_ADMIN_PREFIXES):
            return cfg["ADMIN_RATE_LIMIT"]
        if request.path.startswith("/feedback"):
            return cfg["FEEDBACK_RATE_LIMIT"]
        return cfg["USER_RATE_LIMIT"] or cfg["RATELIMIT_DEFAULT"]
    return cfg["RATELIMIT_DEFAULT"]


def rate_limit_key() -> str:
    """The user id when a valid access token is present, the client address otherwise.

    The address is request.remote_addr, which ProxyFix rewrites only when PROXY_COUNT > 0,
    so X-Forwarded-For is trusted only behind a configured number of proxies.
    """
    cached = g.get("_rate_limit_key")
    if cached:
        return cached
    key = address_key()
    if request.headers.get("Authorization", "").startswith("Bearer "):
        from flask_jwt_extended import get_jwt, verify_jwt_in_request

        try:
            # A view guarded by login_required has verified the token already (the decorated
            # limit runs inside it): reuse those claims instead of a second decode, blocklist
            # check and user lookup.
            claims = g.get("_jwt_extended_jwt")
            if not claims:
                verify_jwt_in_request(optional=True)
                claims = get_jwt()
            if claims.get("type") == "access" and claims.get("sub"):
                key = namespaced(f"user:{claims['sub']}")
        except Exception:  # noqa: BLE001 - an invalid token is simply not an identity
            pass
    g._rate_limit_key = key
    return key


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
bcrypt = Bcrypt()
jwt = JWTManager()
limiter = Limiter(key_func=rate_limit_key, default_limits=[default_limits])
socketio = SocketIO()
api = JsonApi()
