"""Accuracy from feedback per model version and per A/B arm, with a significance test.

Statistics are small closed forms (Wilson interval, pooled two-proportion z-test) so the
figures can be checked by hand; math.erfc gives the normal tail.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select

from app.extensions import db
from app.feedback.models import COUNTED_FEEDBACK, Feedback
from app.predict.models import Prediction

Z95 = 1.959963984540054
ALPHA = 0.05


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float | None, float | None]:
    if n == 0:
        return None, None
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_z_test(k1: int, n1: int, k2: int, n2: int) -> tuple[float | None, float | None]:
    """(z, two-sided p-value) for H0: p1 == p2, pooled standard error."""
    if n1 == 0 or n2 == 0:
        return None, None
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0  # both arms all right (or all wrong): no evidence of a difference
    z = (k1 / n1 - k2 / n2) / se
    return z, math.erfc(abs(z) / math.sqrt(2))


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
    judged = db.session.execute(
        select(key, func.count(Feedback.id), func.sum(case((Feedback.correct.is_(True), 1), else_=0)))
        .join(Prediction, COUNTED_FEEDBACK)
        .where(*extra, *_window(Feedback.created_at, since, until))
        .group_by(key)
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


def compare_arms(arms: list[dict[str, Any]]) -> dict[str, Any] | None:
    judged = sorted((a for a in arms if a["feedback"] > 0), key=lambda a: -a["feedback"])[:2]
    if len(judged) < 2:
        return None
    a, b = sorted(judged, key=lambda r: r["key"])
    z, p = two_proportion_z_test(a["correct"], a["feedback"], b["correct"], b["feedback"])
    if p is not None and p < ALPHA and a["accuracy"] != b["accuracy"]:
        better = a if (a["accuracy"] or 0) > (b["accuracy"] or 0) else b
        verdict = f"{better['key']} better at p<{ALPHA}"
    else:
        verdict = "no significant difference yet"
    return {
        "arms": [a["key"], b["key"]],
        "test": "two-proportion z-test (pooled, two-sided)",
        "z": _round(z),
        "p_value": p,
        "alpha": ALPHA,
        "difference": _round((a["accuracy"] or 0) - (b["accuracy"] or 0)),
        "verdict": verdict,
    }


def confusion_matrix(since: datetime | None, until: datetime | None) -> list[list[int]]:
    matrix = [[0] * 10 for _ in range(10)]
    rows = db.session.execute(
        select(Feedback.label, Prediction.predicted, func.count())
        .join(Prediction, COUNTED_FEEDBACK)
        .where(Feedback.label.is_not(None), *_window(Feedback.created_at, since, until))
        .group_by(Feedback.label, Prediction.predicted)
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
    total, correct = db.session.execute(
        select(func.count(Feedback.id), func.sum(case((Feedback.correct.is_(True), 1), else_=0)))
        .join(Prediction, COUNTED_FEEDBACK)
        .where(*_window(Feedback.created_at, since, until))
    ).one()
    total, correct = int(total or 0), int(correct or 0)
    per_version = _group_rows(Prediction.model_version, since, until)
    for row in per_version:
        row["model_version"] = row["key"]
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
        "comparison": compare_arms(per_arm),
        "confusion_matrix": confusion_matrix(since, until),
    }
    if total == 0:
        report["message"] = "No feedback yet: accuracy figures appear once users send feedback."
    return report
