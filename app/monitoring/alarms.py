"""The stored alarm state per alias, the one `drift.alarm` per quiet -> alarm transition, and the
entry points other features call: check_alarms (the scheduler's tick) and monitoring_signals
(the retrain policy)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError, OperationalError

from app.extensions import db
from app.filelock import nothing
from app.metrics.collectors import set_monitoring
from app.ml.errors import ModelError
from app.monitoring.models import MonitoringState
from app.monitoring.service import cached_report, evaluate
from app.notify import notify
from app.state import sqlite_write_lock
from app.timeutil import utcnow

log = logging.getLogger(__name__)


def _store_verdict(row: dict[str, Any]) -> bool:
    """Write the alias's verdict; True exactly when this call turned it from quiet to alarm.

    The transition is a conditional UPDATE (WHERE alarm is the opposite), so of two workers
    judging the same window only one sees a changed row; a first verdict is an INSERT, and a
    concurrent one loses on the primary key."""
    alias, alarm, now = row["alias"], row["drift"]["alarm"], utcnow()
    fields = {
        "model_version": row["version"],
        "p_value": row["drift"]["p_value"],
        "estimated_accuracy": row["estimated_accuracy"],
        "window_n": row["window"]["n"],
        "checked_at": now,
    }
    lock = sqlite_write_lock()
    try:
        with lock.hold() if lock is not None else nothing():
            flipped = db.session.execute(
                update(MonitoringState)
                .where(MonitoringState.alias == alias, MonitoringState.alarm == (not alarm))
                .values(alarm=alarm, changed_at=now, **fields)
            ).rowcount
            if not flipped:
                found = db.session.execute(
                    update(MonitoringState).where(MonitoringState.alias == alias).values(**fields)
                ).rowcount
                if not found:
                    db.session.add(MonitoringState(alias=alias, alarm=alarm, changed_at=now, **fields))
                    flipped = 1  # a first verdict counts as a change from the quiet default
            db.session.commit()
    except (IntegrityError, OperationalError):  # another worker stored it first, or busy: next time
        db.session.rollback()
        return False
    return bool(alarm and flipped)


def _alarm_payload(row: dict[str, Any]) -> dict[str, Any]:
    drift = row["drift"]
    return {
        "alias": row["alias"],
        "version": row["version"],
        "p_value": drift["p_value"],
        "alpha": drift["alpha"],
        "mmd_p_value": drift["mmd"]["p_value"],
        "class_chi2_p_value": drift["class_chi2"]["p_value"],
        "window_n": row["window"]["n"],
        "window_since": row["window"]["since"],
        "estimated_accuracy": row["estimated_accuracy"],
        "feedback_accuracy": row["feedback_accuracy"],
    }


def record(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Publish each row (Prometheus), store each tested verdict, and notify `drift.alarm` on a
    quiet -> alarm transition. Adds `alarm_raised` to each row."""
    for row in rows:
        drift = row["drift"]
        p_values = {}
        if drift["p_value"] is not None:
            p_values = {"mmd": drift["mmd"]["p_value"], "class_chi2": drift["class_chi2"]["p_value"]}
            p_values["combined"] = drift["p_value"]
        set_monitoring(row["alias"], p_values, drift["alarm"], row["estimated_accuracy"])
        raised = drift["alarm"] is not None and _store_verdict(row)
        if raised:
            log.warning("drift alarm on alias %s (p=%s)", row["alias"], drift["p_value"])
            notify("drift.alarm", _alarm_payload(row))
        row["alarm_raised"] = raised
    return rows


def evaluate_and_record(alias: str | None, since: datetime | None) -> list[dict[str, Any]]:
    rows = evaluate(alias, since)
    # Only the full window is a verdict: a `since`-restricted view is a look, not a state change.
    return record(rows) if since is None else [{**r, "alarm_raised": False} for r in rows]


def monitoring_report(alias: str | None = None, since: datetime | None = None) -> dict[str, Any]:
    """GET /admin/monitoring's answer (cached)."""
    return cached_report(alias, since, evaluate_and_record)


def check_alarms(app: Flask) -> list[dict[str, Any]]:
    """Evaluate every recently used alias now, store the verdicts and send `drift.alarm` for each
    alias that went from quiet to alarm (the scheduler's periodic call). Returns the rows."""
    with app.app_context():
        return cached_report(None, None, evaluate_and_record, fresh=True)["aliases"]


def monitoring_signals(alias: str) -> dict[str, Any]:
    """{"drift_alarm": bool | None, "estimated_accuracy": float | None} for the retrain policy;
    None where the window is below MONITORING_MIN_WINDOW or the alias cannot be evaluated.
    Needs an app context; uses the cached evaluation."""
    try:
        rows = monitoring_report(alias)["aliases"]
    except ModelError:
        return {"drift_alarm": None, "estimated_accuracy": None}
    row = rows[0]
    tested = row["drift"]["alarm"] is not None
    return {
        "drift_alarm": row["drift"]["alarm"],
        "estimated_accuracy": row["estimated_accuracy"] if tested else None,
    }
