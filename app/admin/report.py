"""Accuracy from feedback per model version and per A/B arm, and the experiment's analysis.

Every figure counts each user's first FEEDBACK_USER_CAP verdicts per version (per arm) only
(app/feedback/capped.py). The per-row intervals are Wilson intervals (one look); the experiment
comparison is anytime-valid (app/ab/analysis.py, docs/experiments.md), so refreshing the report
after every feedback does not inflate false winners. The old fixed-horizon z-test is kept only
in bench/aa_simulation.py, to show why it was replaced.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select

from app.ab.analysis import analyse_experiment
from app.extensions import db
from app.feedback.capped import capped_verdicts
from app.feedback.models import Feedback
from app.predict.models import Prediction

Z95 = 1.959963984540054


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float | None, float | None]:
    if n == 0:
        return None, None
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _window(col: Any, since: datetime | None, until: datetime | None) -> list[Any]:
    conds = []
    if since is not None:
        conds.append(col >= since)
    if until is not None:
        conds.append(col < until)
    return conds


def _group_rows(
    key: Any, since: datetime | None, until: datetime | None, *extra: Any
) -> list[dict[str, Any]]:
    served = db.session.execute(
        select(
            key,
            func.count(Prediction.id),
            func.avg(Prediction.latency_ms),
            func.min(Prediction.model_alias),
            func.sum(case((Prediction.ood.is_(True), 1), else_=0)),
        )
        .where(*extra, *_window(Prediction.created_at, since, until))
        .group_by(key)
    ).all()
    verdicts = capped_verdicts(key, *extra, *_window(Feedback.created_at, since, until))
    judged = db.session.execute(
        select(
            verdicts.c.key,
            func.count(),
            func.sum(case((verdicts.c.correct.is_(True), 1), else_=0)),
        ).group_by(verdicts.c.key)
    ).all()
    table: dict[str, dict[str, Any]] = {}
    for name, requests, latency, alias, flagged in served:
        table[str(name)] = {
            "requests": int(requests),
            "mean_latency_ms": _round(latency),
            "alias": alias,
            "ood": int(flagged or 0),
        }
    for name, n, k in judged:
        row = table.setdefault(str(name), {"requests": 0, "mean_latency_ms": None, "alias": None, "ood": 0})
        row["feedback"], row["correct"] = int(n), int(k or 0)
    out = []
    for name, row in table.items():
        n, k = row.get("feedback", 0), row.get("correct", 0)
        low, high = wilson_interval(k, n)
        out.append(
            {
                "key": name,
                "alias": row["alias"],
                "requests": row["requests"],
                "feedback": n,
                "correct": k,
                "incorrect": n - k,
                "accuracy": _round(k / n) if n else None,
                "ci_low": _round(low),
                "ci_high": _round(high),
                "mean_latency_ms": row["mean_latency_ms"],
                "ood_predictions": row["ood"],
                "ood_rate": _round(row["ood"] / row["requests"]) if row["requests"] else None,
            }
        )
    return sorted(out, key=lambda r: _sort_key(r["key"]))


def _sort_key(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (1 << 30, key)


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(float(value), digits)


def compare_arms(analysis: dict[str, Any]) -> dict[str, Any] | None:
    """The `comparison` key, as before, now from the anytime-valid analysis of the current phase
    (z and p_value stay for clients and are null: no fixed-horizon test is run any more)."""
    diff = analysis["difference"]
    if diff is None:
        return None
    return {
        "arms": diff["arms"],
        "test": "anytime-valid confidence sequence on the per-user accuracy difference (current phase)",
        "z": None,
        "p_value": None,
        "alpha": analysis["alpha"],
        "difference": diff["estimate"],
        "cs_low": diff["cs_low"],
        "cs_high": diff["cs_high"],
        "exploratory": analysis["exploratory"],
        "verdict": analysis["verdict"],
    }


def confusion_matrix(since: datetime | None, until: datetime | None) -> list[list[int]]:
    matrix = [[0] * 10 for _ in range(10)]
    verdicts = capped_verdicts(Prediction.model_version, *_window(Feedback.created_at, since, until))
    rows = db.session.execute(
        select(verdicts.c.label, verdicts.c.predicted, func.count())
        .where(verdicts.c.label.is_not(None))
        .group_by(verdicts.c.label, verdicts.c.predicted)
    ).all()
    for label, predicted, count in rows:
        if 0 <= label <= 9 and 0 <= predicted <= 9:
            matrix[label][predicted] += int(count)
    return matrix


def _versions_per_arm(
    since: datetime | None, until: datetime | None, experiment: str
) -> dict[str, list[str]]:
    """The model versions each arm served in the window (a retrain can move an arm's alias)."""
    rows = db.session.execute(
        select(Prediction.ab_arm, Prediction.model_version)
        .where(
            Prediction.ab_arm.is_not(None),
            Prediction.ab_experiment == experiment,
            *_window(Prediction.created_at, since, until),
        )
        .distinct()
    ).all()
    out: dict[str, list[str]] = {}
    for arm, version in rows:
        out.setdefault(str(arm), []).append(str(version))
    return {arm: sorted(vs, key=_sort_key) for arm, vs in out.items()}


def build_report(since: datetime | None, until: datetime | None, experiment: str) -> dict[str, Any]:
    per_version = _group_rows(Prediction.model_version, since, until)
    for row in per_version:
        row["model_version"] = row["key"]
    # The totals add up the capped per-version rows: one user weighs at most the cap per version.
    total = sum(row["feedback"] for row in per_version)
    correct = sum(row["correct"] for row in per_version)
    per_arm = _group_rows(
        Prediction.ab_arm,
        since,
        until,
        Prediction.ab_arm.is_not(None),
        Prediction.ab_experiment == experiment,
    )
    versions = _versions_per_arm(since, until, experiment)
    for row in per_arm:
        row["arm"] = row["key"]
        row["model_version"] = ", ".join(versions.get(row["key"], []))
    low, high = wilson_interval(correct, total)
    analysis = analyse_experiment(experiment)
    served = sum(r["requests"] for r in per_version)
    flagged = sum(r["ood_predictions"] for r in per_version)
    report: dict[str, Any] = {
        "since": since,
        "until": until,
        "experiment": experiment,
        "total_feedback": total,
        "correct": correct,
        "incorrect": total - correct,
        # Fractions everywhere, like per_version / per_arm and accuracy_ci; the original API's
        # percentage stays under its original name for its clients.
        "accuracy": _round(correct / total) if total else None,
        "accuracy_percentage": round(100.0 * correct / total, 4) if total else 0.0,
        "accuracy_ci": [_round(low), _round(high)] if total else None,
        "predictions": served,
        "ood_predictions": flagged,
        "ood_rate": _round(flagged / served) if served else None,
        "per_version": per_version,
        "per_arm": per_arm,
        "comparison": compare_arms(analysis),
        "experiments": [analysis],
        "confusion_matrix": confusion_matrix(since, until),
    }
    if total == 0:
        report["message"] = "No feedback yet: accuracy figures appear once users send feedback."
    return report
