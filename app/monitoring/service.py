"""Per alias: the recent window of predictions, its drift tests against the version's reference,
the estimated accuracy (CBPE) and the feedback accuracy of the same window. Cached per process
for MONITORING_CACHE_SECONDS."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from flask import current_app
from sqlalchemy import case, func, select

from app.extensions import db
from app.feedback.models import COUNTED_FEEDBACK, Feedback
from app.ml.errors import ModelNotFound
from app.ml.families import N_CLASSES
from app.monitoring.reference import reference_for
from app.monitoring.stats import class_chi2_test, mmd_permutation_test
from app.predict.models import Prediction
from app.state import model_store, monitoring_cache
from app.timeutil import utcnow

N_TESTS = 2  # MMD and chi-square: the alarm level is split between them (Bonferroni)
MMD_SEED = 0  # fixed: the same window always gets the same p-value
RECENT_ROWS_PER_WINDOW = 20  # aliases are looked for in the last 20 windows' worth of rows

_compute_lock = threading.Lock()


@dataclass(frozen=True)
class Window:
    probabilities: np.ndarray  # (n, 10), newest first
    first_id: int | None  # the oldest prediction in the window
    since: datetime | None  # its time

    @property
    def n(self) -> int:
        return len(self.probabilities)


def _window_filter(alias: str, version: str) -> list[Any]:
    return [Prediction.model_alias == alias, Prediction.model_version == version]


def load_window(alias: str, version: str, size: int, since: datetime | None) -> Window:
    """The last `size` predictions the alias served with this version (a promotion starts a new
    window: the reference belongs to one version), optionally only those since `since`."""
    stmt = select(Prediction.id, Prediction.probabilities, Prediction.created_at).where(
        *_window_filter(alias, version)
    )
    if since is not None:
        stmt = stmt.where(Prediction.created_at >= since)
    rows = db.session.execute(stmt.order_by(Prediction.id.desc()).limit(size)).all()
    if not rows:
        return Window(np.zeros((0, N_CLASSES)), None, None)
    probabilities = np.asarray([r.probabilities for r in rows], dtype=np.float64).reshape(-1, N_CLASSES)
    return Window(probabilities, rows[-1].id, rows[-1].created_at)


def feedback_in_window(alias: str, version: str, window: Window) -> tuple[int, int]:
    """(judged, correct) among the window's predictions, counted like /admin/report counts."""
    if window.first_id is None:
        return 0, 0
    n, k = db.session.execute(
        select(func.count(Feedback.id), func.sum(case((Feedback.correct.is_(True), 1), else_=0)))
        .join(Prediction, COUNTED_FEEDBACK)
        .where(*_window_filter(alias, version), Prediction.id >= window.first_id)
    ).one()
    return int(n or 0), int(k or 0)


def _test(result: Any) -> dict[str, float]:
    return {"statistic": round(result.statistic, 8), "p_value": round(result.p_value, 8)}


def drift_of(window: Window, reference: Any, cfg: dict) -> dict[str, Any]:
    """The two tests, their Bonferroni-combined p-value and the alarm; all None below the
    minimum window."""
    alpha = cfg["MONITORING_ALPHA"]
    if window.n < cfg["MONITORING_MIN_WINDOW"]:
        return {"mmd": None, "class_chi2": None, "p_value": None, "alpha": alpha, "alarm": None}
    # Input drift on the model's probability vectors (black-box shift detection): measured to
    # stay quiet on unshifted real-world digits where raw pixels alarm (docs/monitoring.md).
    perms = cfg["MONITORING_PERMUTATIONS"]
    mmd = mmd_permutation_test(
        window.probabilities, reference.probabilities, permutations=perms, seed=MMD_SEED
    )
    counts = np.bincount(window.probabilities.argmax(axis=1), minlength=N_CLASSES)
    chi2 = class_chi2_test(counts, reference.class_counts)
    combined = min(1.0, N_TESTS * min(mmd.p_value, chi2.p_value))
    return {
        "mmd": _test(mmd),
        "class_chi2": _test(chi2),
        "p_value": round(combined, 8),
        "alpha": alpha,
        "alarm": combined < alpha,
    }


def evaluate_alias(alias: str, since: datetime | None = None) -> dict[str, Any]:
    """One alias's row of GET /admin/monitoring (raises the model store's errors)."""
    cfg = current_app.config
    model = model_store().get(alias)
    version = str(model.version)
    reference = reference_for(model, cfg["MONITORING_REFERENCE_SIZE"])
    window = load_window(alias, version, cfg["MONITORING_WINDOW"], since)
    judged, correct = feedback_in_window(alias, version, window)
    estimated = reference.calibrator.estimated_accuracy(window.probabilities.max(axis=1))
    return {
        "alias": alias,
        "version": version,
        "window": {
            "n": window.n,
            "since": window.since,
            "size": cfg["MONITORING_WINDOW"],
            "min_n": cfg["MONITORING_MIN_WINDOW"],
        },
        "drift": drift_of(window, reference, cfg),
        "estimated_accuracy": _round(estimated),
        "feedback_accuracy": _round(correct / judged) if judged else None,
        "feedback_n": judged,
        "reference": {"n": reference.n, "accuracy": _round(reference.accuracy)},
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def recent_aliases() -> list[str]:
    """Aliases that served any of the most recent predictions (bounded: no full-table scan)."""
    last = db.session.scalar(select(func.max(Prediction.id)))
    if last is None:
        return []
    floor = last - RECENT_ROWS_PER_WINDOW * current_app.config["MONITORING_WINDOW"]
    rows = db.session.scalars(select(Prediction.model_alias).where(Prediction.id > floor).distinct())
    return sorted(set(rows))


def evaluate(alias: str | None = None, since: datetime | None = None) -> list[dict[str, Any]]:
    """Rows for one alias (its errors propagate) or for every recently used alias (an alias the
    registry no longer has is left out)."""
    # The alias may have moved since this process last served it: judge what it serves now.
    model_store().maybe_refresh(current_app.config["MODEL_RELOAD_INTERVAL"])
    if alias is not None:
        return [evaluate_alias(alias, since)]
    rows = []
    for name in recent_aliases():
        try:
            rows.append(evaluate_alias(name, since))
        except ModelNotFound:
            continue
    return rows


def cached_report(
    alias: str | None, since: datetime | None, compute: Any, *, fresh: bool = False
) -> dict[str, Any]:
    """`compute(alias, since)` -> report, reused for MONITORING_CACHE_SECONDS per (alias, since).
    One computation at a time per process: concurrent refreshes wait for it and reuse it."""
    cache = monitoring_cache()
    key = (alias, since)
    with _compute_lock:
        hit = cache.get(key)
        if not fresh and hit is not None and hit[0] > time.monotonic():
            return hit[1]
        report = {"aliases": compute(alias, since), "computed_at": utcnow()}
        if len(cache) > 64:  # distinct `since` values are client-chosen: bound the cache
            cache.clear()
        cache[key] = (time.monotonic() + current_app.config["MONITORING_CACHE_SECONDS"], report)
    return report
