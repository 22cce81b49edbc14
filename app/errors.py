"""The error handlers: every 4xx/5xx answers in the one JSON shape of app/api.py.

The one mapping of exceptions to answers: ApiError (views and services), the ML errors of
app/ml/errors.py (each carries its own status and code), database failures and anything else.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.api import error_response, slug_for
from app.extensions import api, db
from app.ml.errors import ImageError, ModelError

log = logging.getLogger(__name__)


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
        self.code = code or slug_for(status)
        self.details = details
        self.headers = headers or {}

    @classmethod
    def from_ml(cls, err: ImageError | ModelError, details: dict[str, Any] | None = None) -> ApiError:
        """The answer for an ML error: the status and code it carries (app/ml/errors.py)."""
        return cls(err.http_status, err.message, err.code, details)


def _safe_session_teardown(app: Flask) -> None:
    """Replace Flask-SQLAlchemy's end-of-request `session.remove()` with one that survives a lost
    database connection.

    When the database goes away mid-request, the rollback inside `remove()` raises; raised from a
    teardown it escapes the WSGI app after the response was made (a bare 500 from the server) and
    leaves the broken session registered for the thread's next request.
    """

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
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001
        pass


def register_error_handlers(app: Flask) -> None:
    _safe_session_teardown(app)

    @app.errorhandler(ApiError)
    def _api_error(err: ApiError) -> Response:
        return error_response(err.status, err.message, err.code, err.details, err.headers)

    @app.errorhandler(ImageError)
    @app.errorhandler(ModelError)
    def _ml_error(err: ImageError | ModelError) -> Response:
        if err.http_status >= 500:
            log.warning("%s: %s", type(err).__name__, err)
        return _api_error(ApiError.from_ml(err))

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
            return api.handle_http_exception(err)
        # Log the traceback server-side; the client only sees a JSON 500.
        log.exception("unhandled error")
        return api.handle_http_exception(InternalServerError())


__all__ = ["ApiError", "error_response", "register_error_handlers"]
