"""The API object's error shape: {"error": {"code", "status", "message", "details"}} for every 4xx/5xx.

flask-smorest registers its own HTTPException handler; JsonApi overrides it so errors raised by
Flask, Werkzeug, webargs validation, Flask-Limiter and our own code all look the same. This module
imports nothing from the app, so both app.errors and app.extensions can build on it.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, jsonify
from flask_smorest import Api
from werkzeug.exceptions import HTTPException


class ErrorBodySchema(ma.Schema):
    code = ma.fields.String(metadata={"description": "Machine-readable error code"})
    status = ma.fields.Integer(metadata={"description": "HTTP status"})
    message = ma.fields.String(metadata={"description": "Human-readable explanation"})
    details = ma.fields.Dict(metadata={"description": "Field errors or extra context"})


class ErrorSchema(ma.Schema):
    error = ma.fields.Nested(ErrorBodySchema)


_SLUGS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable_entity",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


def slug_for(status: int) -> str:
    """The default error code of an HTTP status."""
    return _SLUGS.get(status, "error" if status >= 500 else "client_error")


def error_response(
    status: int,
    message: str,
    code: str | None = None,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"code": code or slug_for(status), "status": status, "message": message}
    if details:
        body["details"] = details
    resp = jsonify({"error": body})
    resp.status_code = status
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


class JsonApi(Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> Response:  # type: ignore[override]
        status = error.code or 500
        data = getattr(error, "data", None) or {}
        details = data.get("errors") or data.get("messages")
        message = data.get("message") or error.description or error.name
        if status == 422 and details and not data.get("message"):
            message = "The request failed validation; see details."
        if status == 400 and "Invalid JSON body" in str(details or ""):
            message, details = "The request body is not valid JSON.", None
        headers = dict(data.get("headers") or {})
        if status == 405 and error.get_response().headers.get("Allow"):
            headers["Allow"] = error.get_response().headers["Allow"]
        if status >= 500:
            message = "Internal server error." if status == 500 else message
        return error_response(status, str(message), details=_jsonable(details), headers=headers)


def _jsonable(details: Any) -> dict[str, Any] | None:
    if details is None:
        return None
    if isinstance(details, dict):
        return details
    return {"errors": details}
