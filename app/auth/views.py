from __future__ import annotations

from flask import current_app, g
from flask_jwt_extended import (
    current_user,
    decode_token,
    get_jwt,
    jwt_required,
)
from flask_smorest import Blueprint

from app.auth import lockout
from app.auth.decorators import BEARER, login_required
from app.auth.models import User
from app.auth.schemas import (
    LoginSchema,
    LogoutSchema,
    MessageSchema,
    PasswordChangeSchema,
    RegisterSchema,
    TokensSchema,
    UserSchema,
)
from app.auth.services import authenticate, change_password, create_user, end_all_sessions
from app.auth.tokens import issue_tokens, revoke_claims, revoke_session
from app.errors import ApiError
from app.extensions import address_key, db, limiter
from app.realtime.guard import disconnect_session

blp = Blueprint("auth", __name__, description="Registration, login and tokens")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _login_account_limit() -> str:
    return current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"]


def _login_trusted_limit() -> str:
    return current_app.config["LOGIN_TRUSTED_RATE_LIMIT"]


def _register_limit() -> str:
    return current_app.config["REGISTER_RATE_LIMIT"]


@blp.route("/auth/register", methods=["POST"])
@limiter.limit(_register_limit, key_func=address_key)
@blp.arguments(RegisterSchema)
@blp.response(201, UserSchema)
@blp.alt_response(409, description="Username taken")
@blp.alt_response(422, description="Invalid username, email or weak password")
def register(data: dict):
    """Create an account. The role is always `user`; admins are made from the CLI."""
    user = create_user(data["username"], data["password"], role="user", email=data.get("email"))
    return user


@blp.route("/auth/login", methods=["POST"])
@blp.route("/login", methods=["POST"], endpoint="login_legacy")
@limiter.limit(_login_limit, key_func=address_key)
# Failures from clients this account never signed in from count against the account ...
@limiter.limit(
    _login_account_limit, key_func=lockout.untrusted_account_key, exempt_when=lockout.is_trusted,
    deduct_when=lockout.failed,
)
# ... and a device or address it did sign in from has its own counter: no lockout from elsewhere.
@limiter.limit(
    _login_trusted_limit, key_func=lockout.trusted_client_key, exempt_when=lockout.is_untrusted,
    deduct_when=lockout.failed,
)
@blp.arguments(LoginSchema)
@blp.response(200, TokensSchema)
@blp.alt_response(401, description="Wrong username or password")
@blp.alt_response(429, description="Too many login attempts")
@blp.doc(
    description="Answers a device token (also set as the `ds_device` cookie): send it back as "
    "`X-Device-Token` on later sign-ins, so that failed attempts by others never lock this device out."
)
def login(data: dict):
    """Exchange a username and password for an access token and a refresh token."""
    user = authenticate(data["username"], data["password"])
    if user is None:
        # Same message whether the user exists or not.
        raise ApiError(401, "Invalid username or password.", "invalid_credentials")
    body = {**issue_tokens(user), "user": user}
    g._device_token = lockout.remember_client(lockout.login_name(), body)
    return body


@blp.after_app_request
def _device_cookie(response):  # noqa: ANN001, ANN202 - Flask hook
    token = g.pop("_device_token", None)
    if token and response.status_code == 200:
        lockout.set_device_cookie(response, token)
    return response


@blp.route("/auth/refresh", methods=["POST"])
@jwt_required(refresh=True)
@blp.response(200, TokensSchema)
@blp.doc(
    security=BEARER,
    description="Send the refresh token as the bearer token. Refresh tokens rotate: the answer "
    "carries a new refresh token and the one sent is spent; sending a spent one again ends the "
    "whole session (reuse of a copied token).",
)
def refresh():
    """A new access token and a new refresh token (rotation) for a valid, unspent refresh token."""
    claims = get_jwt()
    revoke_claims(claims)  # spent: showing it again is reuse
    sid = claims.get("sid") if isinstance(claims.get("sid"), str) else None
    return issue_tokens(current_user, session_id=sid)


@blp.route("/auth/logout", methods=["POST"])
@jwt_required(verify_type=False)
@blp.arguments(LogoutSchema, required=False)
@blp.response(200, MessageSchema)
@blp.doc(security=BEARER)
def logout(data: dict):
    """End this login session: its access and refresh tokens and its open sockets (either token
    may be presented; a refresh_token in the body is also revoked)."""
    claims = get_jwt()
    revoke_session(claims)
    refresh_token = (data or {}).get("refresh_token")
    if refresh_token:
        try:
            other = decode_token(refresh_token)
        except Exception as exc:  # noqa: BLE001 - any decode failure is the client's error
            raise ApiError(422, "refresh_token is not a valid token.", "invalid_token") from exc
        if other.get("sub") != claims.get("sub"):
            raise ApiError(403, "refresh_token belongs to another user.")
        revoke_session(other)
    for sid in {claims.get("sid"), other.get("sid") if refresh_token else None}:
        if isinstance(sid, str) and sid:
            disconnect_session(sid, "logged out")
    return {"message": "Token revoked."}


@blp.route("/auth/logout-all", methods=["POST"])
@login_required
@blp.response(200, MessageSchema)
@blp.doc(security=BEARER)
def logout_all():
    """Log out everywhere: every token of this account, on every device, stops working and every
    open socket closes."""
    end_all_sessions(_stored_self(), "logged out everywhere")
    return {"message": "Every session of this account has ended; sign in again."}


@blp.route("/auth/password", methods=["POST"])
@login_required
@blp.arguments(PasswordChangeSchema)
@blp.response(200, MessageSchema)
@blp.alt_response(401, description="Wrong current password")
@blp.alt_response(422, description="The new password is too weak")
@blp.doc(security=BEARER)
def password(data: dict):
    """Change the password; every session (this one included) ends."""
    change_password(_stored_self(), data["current_password"], data["new_password"])
    return {"message": "Password changed; every session has ended; sign in again."}


@blp.route("/auth/me", methods=["GET"])
@login_required
@blp.response(200, UserSchema)
@blp.doc(security=BEARER)
def me():
    """The signed-in user, as stored now."""
    return _stored_self()


def _stored_self() -> User:
    """The signed-in user's row in this session: ``current_user`` may be a cached, detached copy
    (app/auth/cache.py), which must not be changed or trusted to be current."""
    user = db.session.get(User, current_user.id)
    if user is None:
        raise ApiError(401, "The token's user does not exist or is disabled.", "user_unknown")
    return user
