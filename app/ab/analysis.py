"""One experiment's analysis for /admin/report: its current phase, per user, valid at every look.

Per arm: users, capped verdicts, accuracy and its confidence sequence (and the sequence over
time, for the admin page's chart); the difference between the two main arms with its confidence
sequence; `winner` only once that sequence excludes zero, never from bandit (Thompson) data or
under a sample-ratio mismatch; the SRM check against the phase's weights. A phase whose SRM
check fails sends `srm.alarm` once.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select

from app.ab import stats
from app.ab.phases import Phase, claim_srm_alarm, phases_for
from app.extensions import db
from app.feedback.capped import feedback_user_cap
from app.feedback.models import COUNTED_FEEDBACK, Feedback
from app.notify.outbox import notify
from app.predict.models import Prediction

log = logging.getLogger(__name__)
HISTORY_POINTS = 40  # points per arm in the accuracy-over-time series


def _phase_filter(experiment: str, phase: Phase) -> list[Any]:
    conds = [Prediction.ab_experiment == experiment, Prediction.ab_arm.is_not(None)]
    if phase.started_at is not None:
        conds.append(Prediction.created_at >= phase.started_at)
    if phase.ended_at is not None:
        conds.append(Prediction.created_at < phase.ended_at)
    return conds


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def _point(acc: stats.ArmAccumulator, at: Any) -> dict[str, Any]:
    low, high = stats.arm_interval(acc)
    return {
        "at": at,
        "users": acc.users,
        "n": acc.m,
        "accuracy": _r(acc.accuracy()),
        "cs_low": _r(low),
        "cs_high": _r(high),
    }


def _accumulate(
    experiment: str, phase: Phase, arms: list[str], cap: int
) -> tuple[dict[str, stats.ArmAccumulator], dict[str, list[dict]]]:
    """Per-arm accumulators over the phase's counted verdicts (each user's first `cap` per arm,
    in feedback order), and each arm's accuracy / CS at up to HISTORY_POINTS moments."""
    rows = db.session.execute(
        select(Prediction.ab_arm, Feedback.user_id, Feedback.correct, Feedback.created_at)
        .join(Prediction, COUNTED_FEEDBACK)
        .where(*_phase_filter(experiment, phase))
        .order_by(Feedback.id)
    ).all()
    accs = {arm: stats.ArmAccumulator(cap) for arm in arms}
    history: dict[str, list[dict]] = {arm: [] for arm in arms}
    step = max(1, len(rows) // HISTORY_POINTS)
    for i, (arm, user, correct, at) in enumerate(rows):
        if arm not in accs:
            accs[arm], history[arm] = stats.ArmAccumulator(cap), []
        accs[arm].add(user, bool(correct))
        if (i + 1) % step == 0 or i + 1 == len(rows):
            for name, acc in accs.items():
                if acc.m:
                    history[name].append(_point(acc, at))
    return accs, history


def _assignments(experiment: str, phase: Phase) -> list[str]:
    """Each user's arm in order of their first prediction in the phase (a user seen in two arms
    counts in both: with sticky assignment that does not happen within a phase)."""
    rows = db.session.execute(
        select(Prediction.ab_arm, func.min(Prediction.id).label("first"))
        .where(*_phase_filter(experiment, phase))
        .group_by(Prediction.user_id, Prediction.ab_arm)
        .order_by("first")
    ).all()
    return [str(arm) for arm, _first in rows]


def srm_check(phase: Phase, assigned: list[str]) -> dict[str, Any]:
    """Users per arm against the phase's weights: chi-square (one look) and the sequential test."""
    if phase.mode == "thompson":
        return {
            "status": "not_applicable",
            "reason": "Thompson sampling allocates by outcomes, not by weights",
        }
    if phase.arms is None:
        return {"status": "not_applicable", "reason": "the weights of this experiment are not on record"}
    live = [(a, w) for a, w in phase.arms if w > 0]
    names = [a for a, _w in live]
    observed = [assigned.count(a) for a in names]
    stray = len(assigned) - sum(observed)
    base = {"expected_weights": dict(live), "observed_users": dict(zip(names, observed, strict=True))}
    if stray:
        return {**base, "status": "failing", "reason": f"{stray} users assigned to arms outside the weights"}
    if len(live) < 2 or not assigned:
        return {**base, "status": "insufficient_data", "chi2_p_value": None, "sequential_p_value": None}
    chi2_p = stats.chi_square_srm(observed, [w for _a, w in live])
    seq_p = stats.sequential_srm([names.index(a) for a in assigned], [w for _a, w in live])
    failing = (chi2_p is not None and chi2_p < stats.SRM_CHI2_ALPHA) or seq_p < stats.SRM_SEQ_ALPHA
    return {
        **base,
        "status": "failing" if failing else "ok",
        "chi2_p_value": chi2_p,
        "chi2_alpha": stats.SRM_CHI2_ALPHA,
        "sequential_p_value": seq_p,
        "sequential_alpha": stats.SRM_SEQ_ALPHA,
    }


def _difference(accs: dict[str, stats.ArmAccumulator]) -> dict[str, Any] | None:
    """The two arms with the most verdicts, in name order: estimate and CS of a minus b."""
    judged = sorted((a for a in accs if accs[a].m), key=lambda a: -accs[a].m)[:2]
    if len(judged) < 2:
        return None
    a, b = sorted(judged)
    est, low, high = stats.difference_interval(accs[a], accs[b])
    return {"arms": [a, b], "estimate": _r(est), "cs_low": _r(low), "cs_high": _r(high)}


def _verdict(difference: dict | None, exploratory: bool, srm: dict) -> tuple[str | None, str]:
    if difference is None:
        return None, "not enough data"
    if exploratory:
        return (
            None,
            "exploratory: Thompson sampling allocates by outcomes, so no winner is named from its data",
        )
    if srm.get("status") == "failing":
        return None, "sample ratio mismatch: no winner until the assignment is fixed"
    if not stats.excludes_zero(difference["cs_low"], difference["cs_high"]):
        return None, "no winner yet (the confidence sequence on the difference includes 0)"
    a, b = difference["arms"]
    winner = a if difference["cs_low"] > 0 else b
    return winner, f"{winner} better (the confidence sequence on the difference excludes 0)"


def _alarm_once(experiment: str, phase: Phase, srm: dict[str, Any]) -> bool:
    """Send `srm.alarm` for a failing check, once per phase (whoever sees it first)."""
    if srm["status"] != "failing" or not claim_srm_alarm(experiment, phase):
        return False
    notify("srm.alarm", {"experiment": experiment, "phase": phase.number, "srm": srm})
    log.warning("SRM alarm: experiment %s phase %s: %s", experiment, phase.number, srm)
    return True


def check_srm(experiment: str) -> dict[str, Any]:
    """The current phase's SRM check as the report makes it, alarm included: the scheduler's
    periodic duty, so a broken split is reported while traffic flows, not when someone looks."""
    phase = phases_for(experiment)[-1]
    srm = srm_check(phase, _assignments(experiment, phase))
    _alarm_once(experiment, phase, srm)
    return srm


def analyse_experiment(experiment: str) -> dict[str, Any]:
    """The report's `experiments` entry for `experiment` (its current phase)."""
    phases = phases_for(experiment)
    phase = phases[-1]
    configured = [a for a, _w in phase.arms] if phase.arms else []
    accs, history = _accumulate(experiment, phase, configured, feedback_user_cap())
    assigned = _assignments(experiment, phase)
    srm = srm_check(phase, assigned)
    exploratory = phase.mode == "thompson"
    weights = dict(phase.arms or ())
    arms = []
    for name in sorted(accs):
        acc = accs[name]
        low, high = stats.arm_interval(acc)
        arms.append(
            {
                "arm": name,
                "weight": weights.get(name),
                "assigned_users": assigned.count(name),
                "users": acc.users,
                "n": acc.m,
                "correct": acc.c,
                "accuracy": _r(acc.accuracy()),
                "cs_low": _r(low),
                "cs_high": _r(high),
                "history": history[name],
            }
        )
    difference = _difference(accs)
    winner, verdict = _verdict(difference, exploratory, srm)
    _alarm_once(experiment, phase, srm)
    return {
        "experiment": experiment,
        "phase": phase.number,
        "mode": phase.mode,
        "started_at": phase.started_at,
        "exploratory": exploratory,
        "alpha": stats.ALPHA,
        "user_cap": feedback_user_cap(),
        "arms": arms,
        "difference": difference,
        "winner": winner,
        "verdict": verdict,
        "srm": srm,
        "previous_phases": [p.to_dict() for p in phases[:-1]],
    }
