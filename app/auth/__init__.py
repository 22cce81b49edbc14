"""Users, passwords (bcrypt), JWT access/refresh tokens, revocation and roles."""

from __future__ import annotations

from flask import Flask, Response

from app.auth.cache import FOREVER, TtlCache, user_snapshot, watch_user_changes
from app.auth.cli import register_cli
from app.auth.decoded import remember_verified_tokens
from app.auth.models import User
from app.auth.services import claims_revoked
from app.auth.tokens import revoke_session, session_key, stamp_claims, user_for_claims
from app.auth.views import blp
from app.errors import error_response
from app.extensions import api, db, jwt
from app.realtime.guard import disconnect_session
from app.state import revoked_cache, set_auth_caches, user_cache


def init_auth(app: Flask) -> None:
    # Per-process caches in front of the two per-request lookups (app/auth/cache.py). JWTManager
    # is one object for every app (tests build many): the loaders find the current app's caches
    # through current_app (app/state.py), never through a closure.
    seconds = app.config["AUTH_CACHE_SECONDS"]
    set_auth_caches(app, TtlCache(seconds), TtlCache(seconds))
    watch_user_changes()
    remember_verified_tokens(jwt)  # decode and verify each token once per process
    _register_token_loaders()
    _register_token_errors()
    register_cli(app)
    api.register_blueprint(blp)


def _active_row(user_id: int) -> User | None:
    user = db.session.get(User, user_id)
    return user_snapshot(user) if user is not None and user.active else None


def _register_token_loaders() -> None:
    """Identity and claims of new tokens; the user and the revocation state of presented ones."""

    @jwt.user_identity_loader
    def _identity(identity):  # noqa: ANN001, ANN202
        return str(identity)

    @jwt.additional_claims_loader
    def _stamp(identity) -> dict:  # noqa: ANN001
        return stamp_claims(identity)

    @jwt.user_lookup_loader
    def _load_user(_header: dict, claims: dict) -> User | None:
        users = user_cache()
        return user_for_claims(claims, load=lambda uid: users.get(uid, lambda: _active_row(uid)))

    @jwt.token_in_blocklist_loader
    def _revoked(_header: dict, claims: dict) -> bool:
        revoked = revoked_cache()
        sid = claims.get("sid")
        # A session this process ended is known here at once (revoke_token remembers its key).
        if isinstance(sid, str) and sid and revoked.get(session_key(sid), lambda: False, keep=bool):
            return True
        answer = revoked.get(claims["jti"], lambda: claims_revoked(claims))
        if answer:
            revoked.put(claims["jti"], True, FOREVER)
        return answer


def _register_token_errors() -> None:
    """Flask-JWT-Extended's own errors, in the service's JSON error shape."""

    @jwt.unauthorized_loader
    def _missing(reason: str) -> Response:
        return error_response(401, f"Missing or malformed Authorization header: {reason}", "token_missing")

    @jwt.invalid_token_loader
    def _invalid(reason: str) -> Response:
        return error_response(401, f"Invalid token: {reason}", "token_invalid")

    @jwt.expired_token_loader
    def _expired(_header: dict, _claims: dict) -> Response:
        return error_response(401, "Token has expired.", "token_expired")

    @jwt.revoked_token_loader
    def _revoked_resp(_header: dict, claims: dict) -> Response:
        if claims.get("type") == "refresh":
            # A used (rotated) or revoked refresh token shown again: it was copied. End the
            # whole session, so the copy and the original die together.
            revoke_session(claims)
            if isinstance(claims.get("sid"), str):
                disconnect_session(claims["sid"], "refresh token reuse")
        return error_response(401, "Token has been revoked.", "token_revoked")

    @jwt.needs_fresh_token_loader
    def _not_fresh(_header: dict, _claims: dict) -> Response:
        return error_response(401, "A fresh token is required.", "token_not_fresh")

    @jwt.user_lookup_error_loader
    def _no_user(_header: dict, _claims: dict) -> Response:
        return error_response(401, "The token's user does not exist or is disabled.", "user_unknown")

    @jwt.token_verification_failed_loader
    def _failed(_header: dict, _claims: dict) -> Response:
        return error_response(401, "Token verification failed.", "token_invalid")
