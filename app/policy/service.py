"""The retrain policy: read and save it, gather the signals, and start a retrain when one is due."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from app.errors import ApiError
from app.extensions import db
from app.feedback.models import COUNTED_FEEDBACK, Feedback
from app.ml.registry import BASE_ALIAS
from app.monitoring import monitoring_signals
from app.policy.models import RetrainPolicy
from app.policy.triggers import PolicyValues, Signals, due_trigger
from app.predict.models import Prediction
from app.retrain import runner
from app.retrain.jobs import create_job
from app.retrain.models import RetrainJob
from app.state import model_store
from app.timeutil import utcnow

log = logging.getLogger(__name__)

POLICY_ID = 1  # the one row: a fixed key, so two first PUTs cannot make two policies
DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "min_new_labels": None,
    "interval_seconds": None,
    "on_drift_alarm": False,
    "accuracy_drop": None,
    "cooldown_seconds": 3600,
    "job": {"base": BASE_ALIAS},
}
# Jobs that trained on the feedback present when they started (the origin of "new labels").
TRAINED_STATUSES = ("succeeded", "rejected")


def current_policy() -> RetrainPolicy | None:
    return db.session.get(RetrainPolicy, POLICY_ID)


def policy_dict(row: RetrainPolicy | None) -> dict[str, Any]:
    """The policy as the API answers it (the defaults while none was ever saved)."""
    if row is None:
        return {**DEFAULTS, "updated_by": None, "updated_at": None}
    return {
        "enabled": row.enabled,
        "min_new_labels": row.min_new_labels,
        "interval_seconds": row.interval_seconds,
        "on_drift_alarm": row.on_drift_alarm,
        "accuracy_drop": row.accuracy_drop,
        "cooldown_seconds": row.cooldown_seconds,
        "job": dict(row.job_options or {}),
        "updated_by": row.updated_by,
        "updated_at": row.updated_at,
    }


def save_policy(values: dict[str, Any], user_id: int) -> RetrainPolicy:
    """Write the whole policy (already merged and validated) as the one row."""
    row = current_policy() or RetrainPolicy(id=POLICY_ID)
    for key in ("enabled", "min_new_labels", "interval_seconds", "on_drift_alarm", "accuracy_drop"):
        setattr(row, key, values[key])
    row.cooldown_seconds = values["cooldown_seconds"]
    row.job_options = dict(values["job"])
    row.updated_by = user_id
    row.updated_at = utcnow()
    db.session.add(row)
    db.session.commit()
    return row


def policy_values(row: RetrainPolicy) -> PolicyValues:
    return PolicyValues(
        enabled=row.enabled,
        min_new_labels=row.min_new_labels,
        interval_seconds=row.interval_seconds,
        on_drift_alarm=row.on_drift_alarm,
        accuracy_drop=row.accuracy_drop,
        cooldown_seconds=row.cooldown_seconds,
        since=row.updated_at,
    )


def _monitoring_signals(alias: str) -> tuple[bool | None, float | None]:
    """(drift alarm raised, estimated accuracy) of `alias` (app/monitoring); None where unknown."""
    signals = monitoring_signals(alias)
    return signals["drift_alarm"], signals["estimated_accuracy"]


def _reference_accuracy(app: Flask, alias: str) -> float | None:
    """The holdout accuracy recorded for the version `alias` serves (a registry call)."""
    try:
        versions = model_store(app).versions()
    except Exception:  # noqa: BLE001 - registry down: no reference, no accuracy trigger this tick
        log.warning("no reference accuracy for %s: registry unavailable", alias, exc_info=True)
        return None
    for version in versions:
        if alias in version.get("aliases", []):
            return version.get("holdout_accuracy")
    return None


def gather_signals(app: Flask, row: RetrainPolicy) -> Signals:
    """Three small queries (and a registry call only when an estimated accuracy is known)."""
    last_job_at = db.session.scalar(select(func.max(RetrainJob.created_at)))
    trained = db.session.execute(
        select(RetrainJob.started_at, RetrainJob.created_at)
        .where(RetrainJob.status.in_(TRAINED_STATUSES))
        .order_by(RetrainJob.id.desc())
        .limit(1)
    ).first()
    last_trained_at = (trained.started_at or trained.created_at) if trained is not None else None
    labels = (
        select(func.count(Feedback.id)).join(Prediction, COUNTED_FEEDBACK).where(Feedback.label.is_not(None))
    )
    if last_trained_at is not None:
        labels = labels.where(Feedback.created_at > last_trained_at)
    new_labels = db.session.scalar(labels) or 0
    alias = (row.job_options or {}).get("base", BASE_ALIAS)
    drift, estimated = _monitoring_signals(alias)
    reference = _reference_accuracy(app, alias) if estimated is not None and row.accuracy_drop else None
    db.session.commit()  # end the read transaction
    return Signals(new_labels, last_job_at, last_trained_at, drift, estimated, reference)


def job_params(options: dict[str, Any]) -> dict[str, Any]:
    """The job row's params, as POST /admin/retrain would store them."""
    params = {k: v for k, v in options.items() if v is not None}
    params.setdefault("base", BASE_ALIAS)
    params["promote_to"] = params.get("promote_to") or params["base"]
    return params


def run_retrain_policy(app: Flask) -> int | None:
    """The scheduler's retrain duty: start a job if the policy says one is due; its id or None.

    A job already queued or running (the job lock's 409) is skipped quietly: the next tick
    looks again."""
    row = current_policy()
    if row is None or not row.enabled:
        db.session.commit()
        return None
    trigger = due_trigger(policy_values(row), gather_signals(app, row), utcnow())
    if trigger is None:
        return None
    params = job_params(row.job_options or {})
    try:
        job = create_job(None, params, None, app.config["RETRAIN_STALE_SECONDS"], trigger=trigger)
    except ApiError as exc:
        if exc.status != 409:
            raise
        log.debug("retrain policy: %s, but a job is active; next tick", trigger)
        return None
    log.info("retrain policy started job %s: %s", job.id, trigger)
    runner.launch(app, job.id)
    return job.id
