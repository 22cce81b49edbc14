"""Browser front end: the drawing page (/) and the admin page (/admin).

Plain HTML + vanilla JavaScript served from app/web/static (no build step, no CDN). The pages
themselves are static; every piece of data comes from the JSON APIs, called with the bearer
token the page keeps in sessionStorage. Swagger UI assets for /docs live in app/static/swagger-ui/
(the app's default static folder, matching OPENAPI_SWAGGER_UI_URL = "/static/swagger-ui/").
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, render_template, request

from app.extensions import limiter

blp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/web/static",
)

# Strict policy for the pages: scripts and styles only from this origin, no inline code.
# connect-src 'self' covers fetch() and the same-origin Socket.IO connection (ws/wss included).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


@blp.route("/", methods=["GET"])
def index() -> str:
    return render_template("web/index.html")


@blp.route("/admin", methods=["GET"])
def admin() -> str:
    # Static shell; the admin-only data is fetched with the token (a non-admin gets 403s).
    return render_template("web/admin.html")


@blp.after_request
def _security_headers(resp: Response) -> Response:
    resp.headers["X-Content-Type-Options"] = "nosniff"
    if request.endpoint in ("web.index", "web.admin"):
        resp.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["Cache-Control"] = "no-store"
    return resp


def init_web(app: Flask) -> None:
    """Register the web pages. The pages are exempt from the API rate limits (static files already are)."""
    limiter.exempt(blp)
    app.register_blueprint(blp)

    @app.after_request
    def _static_nosniff(resp: Response) -> Response:
        # The app-level static folder (Swagger UI assets for /docs).
        if request.endpoint == "static":
            resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        return resp


__all__ = ["blp", "init_web", "CONTENT_SECURITY_POLICY"]
