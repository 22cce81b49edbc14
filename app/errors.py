"""One JSON error shape for every 4xx/5xx: {"error": {"code", "status", "message", "details"}}.

flask-smorest registers its own HTTPException handler; JsonApi overrides it so errors raised by
Flask, Werkzeug, webargs validation, Flask-Limiter and our own code all look the same.
"""

from __future__ import annotations

import logging
from typing import Any

import marshmallow as ma
from flask import Flask, jsonify
from flask_smorest import Api
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)


class ErrorBodySchema(ma.Schema):
    code = ma.fields.String(metadata={"description": "Machine-readable error code"})
    status = ma.fields.Integer(metadata={"description": "HTTP status"})
    message = ma.fields.String(metadata={"description": "Human-readable explanation"})
    details = ma.fields.Dict(metadata={"description": "Field errors or extra context"})


class ErrorSchema(ma.Schema):
    error = ma.fields.Nested(ErrorBodySchema)


class ApiError(Exception):
    """Raised by views and services for an expected failure with a status and a clear message."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _slug_for(status)
        self.details = details
        self.headers = headers or {}


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


def _slug_for(status: int) -> str:
    return _SLUGS.get(status, "error" if status >= 500 else "client_error")


def error_response(
    status: int,
    message: str,
    code: str | None = None,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
):
    body: dict[str, Any] = {"code": code or _slug_for(status), "status": status, "message": message}
    if details:
        body["details"] = details
    resp = jsonify({"error": body})
    resp.status_code = status
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


class JsonApi(Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException):  # type: ignore[override]
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


def _safe_session_teardown(app: Flask) -> None:
    """Replace Flask-SQLAlchemy's end-of-request `session.remove()` with one that survives a lost
    database connection.

    When the database goes away mid-request, the rollback inside `remove()` raises; raised from a
    teardown it escapes the WSGI app after the response was made (a bare 500 from the server) and
    leaves the broken session registered for the thread's next request.
    """
    from app.extensions import db

    def teardown(_exc: BaseException | None) -> None:
        try:
            db.session.remove()
        except Exception as err:  # noqa: BLE001 - the connection is gone; drop the session anyway
            log.warning("discarding the database session: %s", str(err).splitlines()[0][:200])
            db.session.registry.clear()

    funcs = app.teardown_appcontext_funcs
    for i, func in enumerate(funcs):
        if func == db._teardown_session:
            funcs[i] = teardown


def _rollback_quietly() -> None:
    # After a database error the session may be unusable; the error answer stands either way.
    from app.extensions import db

    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001
        pass


def register_error_handlers(app: Flask) -> None:
    _safe_session_teardown(app)

    @app.errorhandler(ApiError)
    def _api_error(err: ApiError):
        return error_response(err.status, err.message, err.code, err.details, err.headers)

    @app.errorhandler(OperationalError)
    def _database_down(err: OperationalError):
        # Connection lost or refused: fail fast with a 503 the client can retry, not a 500.
        log.warning("database unavailable: %s", str(err).splitlines()[0][:200])
        _rollback_quietly()
        return error_response(503, "The database is unavailable; try again shortly.", "database_unavailable")

    @app.errorhandler(DataError)
    def _unstorable_value(err: DataError):
        # A value the database refuses to store or compare (PostgreSQL: a NUL character in text,
        # an integer past bigint): the client's input, so 422, not a 500 with a traceback.
        log.info("database refused a value: %s", str(err.orig).splitlines()[0][:200])
        _rollback_quietly()
        return error_response(
            422,
            "A value in the request cannot be stored (e.g. a NUL character or a number out of range).",
            "invalid_value",
        )

    @app.errorhandler(Exception)
    def _unhandled(err: Exception):
        if isinstance(err, HTTPException):
            return app.extensions["digitserve.api"].handle_http_exception(err)
        # Log the traceback server-side; the client only sees a JSON 500.
        log.exception("unhandled error")
        return app.extensions["digitserve.api"].handle_http_exception(InternalServerError())
