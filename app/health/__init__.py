"""Liveness and readiness probes for operators and orchestrators."""

from __future__ import annotations

import logging

import marshmallow as ma
from flask import Flask
from flask_smorest import Blueprint
from sqlalchemy import text

from app.api import ErrorBodySchema
from app.extensions import api, db, limiter
from app.state import ReadinessCheck, model_store_or_none, readiness_checks

log = logging.getLogger(__name__)
blp = Blueprint("health", __name__, description="Liveness and readiness")

def add_readiness_check(app: Flask, name: str, check: ReadinessCheck) -> None:
    """Register a part (e.g. the model store) that /health/ready must find working."""
    readiness_checks(app)[name] = check


class HealthSchema(ma.Schema):
    status = ma.fields.String(metadata={"description": "Always `ok`"})


class ReadySchema(ma.Schema):
    status = ma.fields.String(metadata={"description": "`ready` or `unavailable`"})
    checks = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.String(), metadata={"description": "part -> ok | error"}
    )
    failing = ma.fields.List(ma.fields.String(), metadata={"description": "Parts that failed (503 only)"})
    error = ma.fields.Nested(ErrorBodySchema, metadata={"description": "503 only"})


def _database_check() -> None:
    db.session.execute(text("SELECT 1"))


@blp.route("/health", methods=["GET"])
@limiter.exempt
@blp.response(200, HealthSchema)
def health():
    """Liveness: the process answers. Touches nothing else."""
    return {"status": "ok"}


@blp.route("/health/ready", methods=["GET"])
@limiter.exempt
@blp.response(200, ReadySchema)
@blp.alt_response(503, schema=ReadySchema, description="A part is failing; `failing` names it")
def ready():
    """Readiness: the database and the model store answer. 503 names the failing part."""
    checks: dict[str, str] = {}
    failing: list[str] = []
    parts = {"database": _database_check, **readiness_checks()}
    for name, check in parts.items():
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - report any failure as not ready
            if name == "database":
                db.session.rollback()
            # The probe is anonymous: the part and the kind of failure only. The message may hold
            # internal addresses (the registry's URL, the database host); it goes to the log.
            log.warning("readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
            checks[name] = f"error: {type(exc).__name__}"
            failing.append(name)
    store = model_store_or_none()
    if store is not None and store.errors:
        # Reported, not failing: the last good version of each alias keeps serving. Which alias
        # only; the reasons are on /admin/models (admins).
        failed = sorted(store.errors)
        checks["model_errors"] = "; ".join(f"{alias}: failed to load a new version" for alias in failed)
    if failing:
        return {
            "status": "unavailable",
            "failing": failing,
            "checks": checks,
            "error": {
                "code": "not_ready",
                "status": 503,
                "message": f"Not ready: {', '.join(failing)} failing.",
            },
        }, 503
    return {"status": "ready", "checks": checks}


def init_health(app: Flask) -> None:
    api.register_blueprint(blp)
