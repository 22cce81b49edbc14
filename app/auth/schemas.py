from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.timeutil import UtcDateTime


class RegisterSchema(ma.Schema):
    username = ma.fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[A-Za-z0-9_.\-]{3,64}$",
            error="3-64 characters: letters, digits, '_', '.', '-'.",
        ),
    )
    password = ma.fields.String(required=True, load_only=True)
    email = ma.fields.Email(load_default=None, allow_none=True)


class LoginSchema(ma.Schema):
    username = ma.fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = ma.fields.String(required=True, load_only=True, validate=validate.Length(max=1024))


class LogoutSchema(ma.Schema):
    refresh_token = ma.fields.String(
        load_default=None, metadata={"description": "Also revoke this refresh token"}
    )


class PasswordChangeSchema(ma.Schema):
    current_password = ma.fields.String(required=True, load_only=True, validate=validate.Length(max=1024))
    new_password = ma.fields.String(required=True, load_only=True, validate=validate.Length(max=1024))


class UserSchema(ma.Schema):
    id = ma.fields.Integer()
    username = ma.fields.String()
    email = ma.fields.String(allow_none=True)
    role = ma.fields.String()
    active = ma.fields.Boolean()
    created_at = UtcDateTime()


class TokensSchema(ma.Schema):
    access_token = ma.fields.String()
    refresh_token = ma.fields.String()
    token_type = ma.fields.String()
    expires_in = ma.fields.Integer()
    user = ma.fields.Nested(UserSchema)
    device_token = ma.fields.String(
        metadata={"description": "Send back as X-Device-Token on later sign-ins (login only)"}
    )


class AccessTokenSchema(ma.Schema):
    access_token = ma.fields.String()
    token_type = ma.fields.String()
    expires_in = ma.fields.Integer()


class MessageSchema(ma.Schema):
    message = ma.fields.String()
