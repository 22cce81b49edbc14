from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from flask import Response, current_app
from flask_jwt_extended import current_user
from flask_smorest import Blueprint
from sqlalchemy import select

from app.ab.service import current_config
from app.admin.report import build_report
from app.admin.schemas import ModelsSchema, ReportArgs, ReportSchema, UserPageSchema, UserUpdateSchema
from app.auth.decorators import BEARER, admin_required
from app.auth.models import User
from app.auth.schemas import UserSchema
from app.auth.services import update_user
from app.errors import ApiError
from app.extensions import db
from app.pagination import PageArgs, paginate
from app.security import DB_INT_MAX
from app.state import model_store

blp = Blueprint("admin", __name__, url_prefix="/admin", description="Administration")


@blp.route("/users", methods=["GET"])
@admin_required
@blp.arguments(PageArgs, location="query")
@blp.response(200, UserPageSchema)
@blp.doc(security=BEARER)
def list_users(args: dict):
    """Users, oldest first, paginated like every other list (admin only). The list is in `items`;
    before issue 12 it was the bare list."""
    return paginate(select(User).order_by(User.id), args)


@blp.route("/users/<int:user_id>", methods=["PATCH"])
@admin_required
@blp.arguments(UserUpdateSchema)
@blp.response(200, UserSchema)
@blp.alt_response(404, description="No such user")
@blp.alt_response(409, description="Admins cannot demote or disable themselves")
@blp.doc(security=BEARER)
def update_user_view(data: dict, user_id: int):
    """Change a user's role or disable/enable the account (admin only). A role change or a
    deactivation ends every session of that user at once: tokens and open sockets."""
    user = db.session.get(User, user_id) if user_id <= DB_INT_MAX else None
    if user is None:
        raise ApiError(404, f"User {user_id} does not exist.", "user_not_found")
    if user.id == current_user.id and (data["role"] not in (None, "admin") or data["active"] is False):
        raise ApiError(409, "An admin cannot demote or disable their own account.", "self_lockout")
    return update_user(user, role=data["role"], active=data["active"])


def _report(args: dict) -> dict:
    return build_report(args["since"], args["until"], args["experiment"] or current_config().experiment)


@blp.route("/report", methods=["GET"])
@admin_required
@blp.arguments(ReportArgs, location="query")
@blp.response(200, ReportSchema)
@blp.alt_response(422, description="since/until is not an ISO date")
@blp.doc(security=BEARER)
def report(args: dict):
    """Feedback totals and accuracy per model version and A/B arm, and the experiment's anytime-valid
    analysis (`experiments`: confidence sequences, winner, SRM check). See docs/experiments.md."""
    return _report(args)


CSV_COLUMNS = [
    "model_version",
    "alias",
    "requests",
    "feedback",
    "correct",
    "incorrect",
    "accuracy",
    "ci_low",
    "ci_high",
    "mean_latency_ms",
]


@blp.route("/report.csv", methods=["GET"])
@admin_required
@blp.arguments(ReportArgs, location="query")
@blp.response(200, {"type": "string"}, content_type="text/csv")
@blp.doc(security=BEARER)
def report_csv(args: dict):
    """The per-version table of /admin/report as CSV."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in _report(args)["per_version"]:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in CSV_COLUMNS})
    return Response(
        buf.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=report.csv"},
    )


@blp.route("/models", methods=["GET"])
@admin_required
@blp.response(200, ModelsSchema)
@blp.alt_response(503, description="Model registry unreachable")
@blp.doc(security=BEARER)
def list_models():
    """Registered model versions with their aliases, and what this process serves."""
    cfg = current_app.config
    store = model_store()
    rows = store.versions()  # ModelUnavailable (registry unreachable): the ML error handler's 503
    versions = [
        {
            **{k: v for k, v in row.items() if k != "created_ms"},
            "created_at": datetime.fromtimestamp(row["created_ms"] / 1000, UTC).replace(tzinfo=None)
            if row.get("created_ms")
            else None,
        }
        for row in rows
    ]
    return {
        "model_name": cfg["MODEL_NAME"],
        "mlflow_ui": cfg["MLFLOW_UI_URL"],
        "served": store.served(),
        "versions": versions,
        "errors": dict(store.errors),
    }
