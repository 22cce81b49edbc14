from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import marshmallow as ma
from flask import Response, current_app
from flask_jwt_extended import current_user
from flask_smorest import Blueprint
from sqlalchemy import select

from app.ab.service import current_config
from app.admin.report import build_report
from app.auth.decorators import BEARER, admin_required
from app.auth.models import ROLES, User
from app.auth.schemas import UserSchema
from app.auth.services import update_user
from app.errors import ApiError
from app.extensions import db
from app.pagination import PageArgs, paginate
from app.security import DB_INT_MAX
from app.state import model_store
from app.timeutil import UtcDateTime

blp = Blueprint("admin", __name__, url_prefix="/admin", description="Administration")


@blp.route("/users", methods=["GET"])
@admin_required
@blp.arguments(PageArgs, location="query")
@blp.response(200, UserSchema(many=True))
@blp.doc(security=BEARER)
def list_users(args: dict):
    """Users, oldest first (admin only)."""
    return paginate(select(User).order_by(User.id), args, User.to_dict)["items"]


class UserUpdateSchema(ma.Schema):
    role = ma.fields.String(validate=ma.validate.OneOf(ROLES), load_default=None)
    active = ma.fields.Boolean(load_default=None)


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
    return update_user(user, role=data["role"], active=data["active"]).to_dict()


class ReportArgs(ma.Schema):
    since = ma.fields.DateTime(load_default=None, metadata={"description": "ISO 8601 date or datetime"})
    until = ma.fields.DateTime(load_default=None)
    experiment = ma.fields.String(load_default=None)

    @ma.pre_load
    def _dates(self, data, **_kwargs):  # noqa: ANN001, ANN202
        # Accept plain dates ("2026-11-27") as well as datetimes.
        data = dict(data)
        for key in ("since", "until"):
            value = data.get(key)
            if isinstance(value, str) and len(value) == 10:
                data[key] = value + "T00:00:00"
        return data

    @ma.post_load
    def _naive_utc(self, data, **_kwargs):  # noqa: ANN001, ANN202
        for key in ("since", "until"):
            value = data.get(key)
            if value is not None and value.tzinfo is not None:
                data[key] = value.astimezone(UTC).replace(tzinfo=None)
        return data


class VersionRowSchema(ma.Schema):
    model_version = ma.fields.String(
        metadata={"description": "The version; on per_arm rows, all versions the arm served, comma-separated"}
    )
    arm = ma.fields.String()
    alias = ma.fields.String(allow_none=True)
    requests = ma.fields.Integer()
    feedback = ma.fields.Integer()
    correct = ma.fields.Integer()
    incorrect = ma.fields.Integer()
    accuracy = ma.fields.Float(allow_none=True)
    ci_low = ma.fields.Float(allow_none=True)
    ci_high = ma.fields.Float(allow_none=True)
    mean_latency_ms = ma.fields.Float(allow_none=True)


class ComparisonSchema(ma.Schema):
    arms = ma.fields.List(ma.fields.String())
    test = ma.fields.String()
    z = ma.fields.Float(allow_none=True)
    p_value = ma.fields.Float(allow_none=True)
    alpha = ma.fields.Float()
    difference = ma.fields.Float(allow_none=True)
    verdict = ma.fields.String()


class ReportSchema(ma.Schema):
    since = UtcDateTime(allow_none=True)
    until = UtcDateTime(allow_none=True)
    experiment = ma.fields.String()
    total_feedback = ma.fields.Integer()
    correct = ma.fields.Integer()
    incorrect = ma.fields.Integer()
    accuracy = ma.fields.Float(
        allow_none=True,
        metadata={"description": "Fraction (0-1) of judged predictions that were right; null if none"},
    )
    accuracy_percentage = ma.fields.Float(
        metadata={"description": "The same in percent (0 if none): the original API's key, for its clients"}
    )
    accuracy_ci = ma.fields.List(
        ma.fields.Float(allow_none=True),
        allow_none=True,
        metadata={"description": "95 % Wilson interval, fractions"},
    )
    per_version = ma.fields.List(ma.fields.Nested(VersionRowSchema))
    per_arm = ma.fields.List(ma.fields.Nested(VersionRowSchema))
    comparison = ma.fields.Nested(ComparisonSchema, allow_none=True)
    confusion_matrix = ma.fields.List(ma.fields.List(ma.fields.Integer()))
    message = ma.fields.String()


def _report(args: dict) -> dict:
    return build_report(args["since"], args["until"], args["experiment"] or current_config().experiment)


@blp.route("/report", methods=["GET"])
@admin_required
@blp.arguments(ReportArgs, location="query")
@blp.response(200, ReportSchema)
@blp.alt_response(422, description="since/until is not an ISO date")
@blp.doc(security=BEARER)
def report(args: dict):
    """Feedback totals and accuracy per model version and A/B arm, with a significance test."""
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


class ModelVersionSchema(ma.Schema):
    version = ma.fields.String()
    aliases = ma.fields.List(ma.fields.String())
    run_id = ma.fields.String(allow_none=True)
    family = ma.fields.String(allow_none=True)
    holdout_accuracy = ma.fields.Float(allow_none=True)
    promotion_decision = ma.fields.String(allow_none=True)
    created_at = UtcDateTime(allow_none=True)


class ModelsSchema(ma.Schema):
    model_name = ma.fields.String()
    mlflow_ui = ma.fields.String()
    served = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(),
        metadata={"description": "alias -> version served by this process"},
    )
    versions = ma.fields.List(ma.fields.Nested(ModelVersionSchema))
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(),
        metadata={"description": "alias -> why its newest version failed to load (the last good one serves)"},
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
