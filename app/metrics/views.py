"""GET /metrics and the per-request hooks.

A plain Flask blueprint, not a flask-smorest one: the body is Prometheus text, not JSON, and it
stays out of the OpenAPI spec. Its errors (401/403) are still JSON via the app's error handlers.
"""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, current_app, g, request

from app.auth.decorators import admin_required
from app.extensions import limiter
from app.metrics.collectors import HTTP_LATENCY, HTTP_REQUESTS, render

blp = Blueprint("metrics", __name__)

UNMATCHED = "unmatched"  # 404/405: no endpoint, and the raw path would be unbounded cardinality


def install_request_hooks(app: Flask) -> None:
    def _start() -> None:
        g._metrics_start = time.perf_counter()

    def _record(response: Response) -> Response:
        if request.blueprint == blp.name:
            return response
        labels = {
            "endpoint": request.endpoint or UNMATCHED,
            "method": request.method,
            "status": str(response.status_code),
        }
        HTTP_REQUESTS.labels(**labels).inc()
        start = g.get("_metrics_start")
        if start is not None:
            HTTP_LATENCY.labels(**labels).observe(time.perf_counter() - start)
        return response

    # First in line, so requests that Flask-Limiter's before_request rejects (429) are timed too.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_record)


_require_admin = admin_required(lambda: None)


@blp.route("/metrics", methods=["GET"])
@limiter.exempt
def metrics() -> Response:
    """Prometheus scrape: admin JWT required unless METRICS_PUBLIC (meant for an internal bind)."""
    if not current_app.config.get("METRICS_PUBLIC"):
        _require_admin()
    body, content_type = render()
    resp = Response(body, content_type=content_type)
    resp.headers["Cache-Control"] = "no-store"
    return resp
