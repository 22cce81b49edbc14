"""Request hardening shared by every endpoint: JSON bodies that cannot crash the parser, and the
response headers browsers need (no MIME sniffing, no framing, no caching of tokens)."""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider

from app.errors import ApiError

# Largest id a BIGINT (PostgreSQL) / INTEGER (SQLite) column holds: SQLite raises OverflowError
# when asked to bind a larger Python int, so ids beyond it are refused (or "not found") up front.
DB_INT_MAX = 2**63 - 1


class SafeJSONProvider(DefaultJSONProvider):
    """json.loads that turns the C scanner's RecursionError (JSON nested ~1,000 deep) into the
    ValueError every caller already handles as "not valid JSON" (Flask answers 400)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON is nested too deeply") from None


def _refuse_unparsable_json() -> None:
    # webargs parses the body with the stdlib json itself, where the RecursionError would become a
    # 500; parsing once here (Flask caches the result) turns every bad body into one 400 first.
    if not request.is_json or not request.get_data(cache=True):
        return
    try:
        request.get_json(silent=False)
    except Exception:  # noqa: BLE001 - BadRequest from the ValueError above, or a decode error
        raise ApiError(400, "The request body is not valid JSON.", "bad_request") from None


# Token-bearing answers must not be stored by browsers or proxies.
_NO_STORE_PREFIXES = ("/auth/", "/login")


def _security_headers(response):  # noqa: ANN001, ANN202 - Flask hook
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith(_NO_STORE_PREFIXES):
        headers["Cache-Control"] = "no-store"
        headers.setdefault("Pragma", "no-cache")
    return response


def init_security(app: Flask) -> None:
    app.json = SafeJSONProvider(app)
    # First before_request hook: ahead of the limiter's, whose key functions read the body too.
    app.before_request_funcs.setdefault(None, []).insert(0, _refuse_unparsable_json)
    app.after_request(_security_headers)
