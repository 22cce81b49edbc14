from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, request
from flask_jwt_extended import (
    create_access_token,
    create_refresh_token,
    current_user,
    decode_token,
    get_jwt,
    jwt_required,
)
from flask_smorest import Blueprint

from app.auth.decorators import BEARER, login_required
from app.auth.schemas import (
    AccessTokenSchema,
    LoginSchema,
    LogoutSchema,
    MessageSchema,
    RegisterSchema,
    TokensSchema,
    UserSchema,
)
from app.auth.services import authenticate, create_user, revoke_token
from app.errors import ApiError
from app.extensions import address_key, limiter, namespaced

blp = Blueprint("auth", __name__, description="Registration, login and tokens")


def _account_key() -> str:
    body = request.get_json(silent=True)
    name = body.get("username") if isinstance(body, dict) else None
    return namespaced(f"login-account:{str(name)[:64].lower() if name else '-'}")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _login_account_limit() -> str:
    return current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"]


def _register_limit() -> str:
    return current_app.config["REGISTER_RATE_LIMIT"]


def _expires_in() -> int:
    return int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds())


@blp.route("/auth/register", methods=["POST"])
@limiter.limit(_register_limit, key_func=address_key)
@blp.arguments(RegisterSchema)
@blp.response(201, UserSchema)
@blp.alt_response(409, description="Username taken")
@blp.alt_response(422, description="Invalid username, email or weak password")
def register(data: dict):
    """Create an account. The role is always `user`; admins are made from the CLI."""
    user = create_user(data["username"], data["password"], role="user", email=data.get("email"))
    return user.to_dict()


@blp.route("/auth/login", methods=["POST"])
@blp.route("/login", methods=["POST"], endpoint="login_legacy")
@limiter.limit(_login_limit, key_func=address_key)
@limiter.limit(_login_account_limit, key_func=_account_key)
@blp.arguments(LoginSchema)
@blp.response(200, TokensSchema)
@blp.alt_response(401, description="Wrong username or password")
@blp.alt_response(429, description="Too many login attempts")
def login(data: dict):
    """Exchange a username and password for an access token and a refresh token."""
    user = authenticate(data["username"], data["password"])
    if user is None:
        # Same message whether the user exists or not.
        raise ApiError(401, "Invalid username or password.", "invalid_credentials")
    identity = str(user.id)
    return {
        "access_token": create_access_token(identity=identity),
        "refresh_token": create_refresh_token(identity=identity),
        "token_type": "bearer",
        "expires_in": _expires_in(),
        "user": user.to_dict(),
    }


@blp.route("/auth/refresh", methods=["POST"])
@jwt_required(refresh=True)
@blp.response(200, AccessTokenSchema)
@blp.doc(security=BEARER, description="Send the refresh token as the bearer token.")
def refresh():
    """A new access token for a valid, unrevoked refresh token."""
    return {
        "access_token": create_access_token(identity=str(current_user.id)),
        "token_type": "bearer",
        "expires_in": _expires_in(),
    }


def _revoke_claims(claims: dict) -> None:
    revoke_token(
        claims["jti"],
        claims.get("type", "access"),
        int(claims["sub"]) if str(claims.get("sub", "")).isdigit() else None,
        datetime.fromtimestamp(claims["exp"], UTC).replace(tzinfo=None),
    )


@blp.route("/auth/logout", methods=["POST"])
@jwt_required(verify_type=False)
@blp.arguments(LogoutSchema, required=False)
@blp.response(200, MessageSchema)
@blp.doc(security=BEARER)
def logout(data: dict):
    """Revoke the presented token (and, if given, the refresh token in the body)."""
    _revoke_claims(get_jwt())
    refresh_token = (data or {}).get("refresh_token")
    if refresh_token:
        try:
            claims = decode_token(refresh_token)
        except Exception as exc:  # noqa: BLE001 - any decode failure is the client's error
            raise ApiError(422, "refresh_token is not a valid token.", "invalid_token") from exc
        if claims.get("sub") != get_jwt().get("sub"):
            raise ApiError(403, "refresh_token belongs to another user.")
        _revoke_claims(claims)
    return {"message": "Token revoked."}


@blp.route("/auth/me", methods=["GET"])
@login_required
@blp.response(200, UserSchema)
@blp.doc(security=BEARER)
def me():
    """The signed-in user, as stored now."""
    return current_user.to_dict()
