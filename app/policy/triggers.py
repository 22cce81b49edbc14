"""When a retrain is due: a pure function of the policy, the signals and the time (unit-tested)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PolicyValues:
    """The policy's triggers as plain values (a trigger is off when None / False)."""

    enabled: bool
    min_new_labels: int | None = None
    interval_seconds: int | None = None
    on_drift_alarm: bool = False
    accuracy_drop: float | None = None
    cooldown_seconds: int = 0
    # The interval's origin while no retrain has run yet: when the policy was set.
    since: datetime | None = None


@dataclass(frozen=True)
class Signals:
    """What the scheduler knows right now about the data, the jobs and the served model."""

    new_labels: int = 0  # counted labels newer than the last retrain that trained (or all)
    last_job_at: datetime | None = None  # the newest job of any kind: the cooldown's origin
    last_trained_at: datetime | None = None  # the newest job that trained: the interval's origin
    drift_alarm: bool | None = None  # None: unknown (no monitoring)
    estimated_accuracy: float | None = None
    reference_accuracy: float | None = None  # the served version's holdout accuracy


def due_trigger(policy: PolicyValues, signals: Signals, now: datetime) -> str | None:
    """The reason to start a retrain now ("policy:<trigger> (<why>)"), or None.

    Nothing is due while disabled or within cooldown_seconds of the last job (whoever started it);
    otherwise the first trigger that holds, in this order: drift alarm, accuracy drop, new labels,
    interval."""
    if not policy.enabled:
        return None
    if signals.last_job_at is not None:
        if (now - signals.last_job_at).total_seconds() < policy.cooldown_seconds:
            return None
    if policy.on_drift_alarm and signals.drift_alarm:
        return "policy:drift_alarm (the drift alarm is raised)"
    est, ref, drop = signals.estimated_accuracy, signals.reference_accuracy, policy.accuracy_drop
    if drop is not None and est is not None and ref is not None and ref - est >= drop:
        return f"policy:accuracy_drop (estimated {est:.4f} is {ref - est:.4f} below the reference {ref:.4f})"
    wanted = policy.min_new_labels
    if wanted is not None and signals.new_labels >= wanted:
        return f"policy:min_new_labels ({signals.new_labels} new labels >= {wanted})"
    origin = signals.last_trained_at or policy.since
    if policy.interval_seconds is not None and origin is not None:
        elapsed = (now - origin).total_seconds()
        if elapsed >= policy.interval_seconds:
            return f"policy:interval ({elapsed:.0f} s since the last retrain >= {policy.interval_seconds} s)"
    return None
