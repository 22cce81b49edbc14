"""Rollout rules: start one (one active per alias), advance it on the evidence, cancel it.

Every stage change is a conditional UPDATE (``WHERE stage = <the stage read>``): of several
workers advancing the same rollout at once exactly one wins, and only the winner moves the alias.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.aliases import move_alias
from app.errors import ApiError
from app.extensions import db
from app.ml import registry
from app.ml.errors import ModelNotFound
from app.notify import notify
from app.realtime import notify_model_promoted
from app.rollout import evidence
from app.rollout.decision import THRESHOLD_KEYS, decide
from app.rollout.models import ACTIVE_STAGES, FINAL_STAGES, Rollout
from app.state import model_store, rollout_cache_or_none
from app.timeutil import utcnow

log = logging.getLogger(__name__)


def default_thresholds() -> dict[str, Any]:
    cfg = current_app.config
    return {key: cfg[f"ROLLOUT_{key.upper()}"] for key in THRESHOLD_KEYS}


def _move_alias(alias: str, version: str, reason: str, source: str = "rollout") -> None:
    """The one place a rollout moves an alias: through the recorded history (app/aliases). A move
    back from the full stage is a "rollback" there, so an admin's rollback afterwards does not
    undo it again."""
    move_alias(alias, version, reason=reason, source=source)
    log.info("rollout moved alias %s to version %s: %s", alias, version, reason)


def _alias_version(alias: str) -> str | None:
    return model_store().aliases().get(alias)


def start_rollout(
    alias: str,
    version: str,
    *,
    created_by: int | None,
    canary_share: float | None = None,
    thresholds: dict[str, Any] | None = None,
    source: str = "api",
    retrain_job_id: int | None = None,
) -> Rollout:
    """Start shadowing ``version`` on ``alias``: 422 for an unknown alias or version (or the one
    the alias serves), 409 when the alias has an active rollout."""
    store = model_store()
    baseline = store.aliases().get(alias)
    if baseline is None:
        raise ApiError(422, f"Alias {alias!r} is not in the registry.", "unknown_alias")
    if str(version) == baseline:
        raise ApiError(422, f"Alias {alias!r} already serves version {version}.", "already_serving")
    try:
        store.get_version(str(version))  # loads it now, so the first shadowed request does not wait
    except ModelNotFound:
        raise ApiError(422, f"Model version {version!r} is not registered.", "unknown_version") from None
    refuse_if_active(alias)
    _refuse_if_promoting(alias)
    now = utcnow()
    rollout = Rollout(
        alias=alias,
        candidate_version=str(version),
        baseline_version=baseline,
        stage="shadow",
        active_lock=alias,
        canary_share=canary_share if canary_share is not None else current_app.config["ROLLOUT_CANARY_SHARE"],
        thresholds={**default_thresholds(), **(thresholds or {})},
        history=[{"stage": "shadow", "at": now.isoformat(), "reason": "started"}],
        source=source,
        retrain_job_id=retrain_job_id,
        created_by=created_by,
        created_at=now,
        stage_changed_at=now,
    )
    db.session.add(rollout)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # another worker started one for this alias first
        refuse_if_active(alias)
        raise
    _invalidate()
    return rollout


def refuse_if_active(alias: str) -> None:
    """409 rollout_active when ``alias`` has a rollout in progress."""
    current = db.session.scalar(select(Rollout).where(Rollout.active_lock == alias))
    if current is not None:
        raise ApiError(
            409,
            f"Alias {alias!r} has an active rollout ({current.id}, {current.stage}).",
            "rollout_active",
            {"rollout_id": current.id},
        )


def _refuse_if_promoting(alias: str) -> None:
    """409 retrain_in_progress while a retrain will move ``alias`` itself: its promotion would
    replace the baseline under the rollout."""
    from app.retrain.jobs import promoting_job  # here: app.retrain imports this module

    job = promoting_job(alias, current_app.config["RETRAIN_STALE_SECONDS"])
    if job is not None:
        raise ApiError(
            409,
            f"Retrain job {job.id} will promote into {alias!r} when it finishes; start the rollout after it.",
            "retrain_in_progress",
            {"job_id": job.id},
        )


def _invalidate() -> None:
    cache = rollout_cache_or_none()
    if cache is not None:
        cache.invalidate()


def _transition(rollout: Rollout, to: str, reason: str) -> bool:
    """Move the rollout from the stage it was read in to ``to``; False if another worker did."""
    now = utcnow()
    values: dict[str, Any] = {
        "stage": to,
        "stage_changed_at": now,
        "reason": reason[:2000],
        "history": [*(rollout.history or []), {"stage": to, "at": now.isoformat(), "reason": reason}],
    }
    if to in FINAL_STAGES:
        values.update(active_lock=None, finished_at=now)
    done = db.session.execute(
        update(Rollout).where(Rollout.id == rollout.id, Rollout.stage == rollout.stage).values(**values)
    )
    db.session.commit()
    return done.rowcount == 1


def _apply(rollout_id: int, alias: str, cand: str, base: str, frm: str, to: str, reason: str) -> None:
    """The alias moves that go with a stage change the caller won."""
    if to == "full":
        _move_alias(alias, cand, f"rollout {rollout_id} in full: {reason}")
    elif to == "promoted":
        _move_alias(alias, cand, f"rollout {rollout_id} promoted: {reason}")
        champion = model_store().aliases().get(registry.CHAMPION)
        if alias != registry.CHAMPION and champion == base:
            _move_alias(registry.CHAMPION, cand, f"champion follows {alias} (rollout {rollout_id})")
    elif frm == "full" and _alias_version(alias) == cand:
        _move_alias(alias, base, f"rollout {rollout_id} {to}: {reason}", source="rollback")
    _invalidate()
    try:
        model_store().refresh()  # this process serves the outcome at once; others within the interval
    except Exception:  # noqa: BLE001 - the periodic refresh retries
        log.warning("model store refresh after rollout %s failed", rollout_id, exc_info=True)
    payload = {"alias": alias, "version": cand, "baseline_version": base, "rollout_id": rollout_id}
    if to == "promoted":
        notify_model_promoted(alias, cand)
        notify("model.promoted", {**payload, "reason": reason})
    elif to == "rolled_back":
        notify("model.rolled_back", {**payload, "reason": reason})


def change_stage(rollout: Rollout, to: str, reason: str) -> bool:
    ids = (rollout.id, rollout.alias, rollout.candidate_version, rollout.baseline_version, rollout.stage)
    if not _transition(rollout, to, reason):
        return False
    log.info("rollout %s: %s -> %s (%s)", ids[0], ids[4], to, reason)
    _apply(*ids, to, reason)
    return True


def advance(rollout: Rollout) -> str | None:
    """One decision on one active rollout; returns the stage it moved to, or None."""
    # The row's own thresholds; a key added to the settings since it started takes its default.
    thresholds = {**default_thresholds(), **(rollout.thresholds or {})}
    decision = decide(rollout.stage, evidence.gather(rollout), thresholds)
    if decision.to_stage is None or not change_stage(rollout, decision.to_stage, decision.reason):
        return None
    return decision.to_stage


def advance_rollouts() -> list[tuple[int, str]]:
    """Advance every active rollout by at most one stage: after each feedback commit (cheap: the
    per-process cache says when none is active) and from any scheduler."""
    cache = rollout_cache_or_none()
    if cache is not None and not cache.any_active(current_app.config["MODEL_RELOAD_INTERVAL"]):
        return []
    moved = []
    for rollout in db.session.scalars(select(Rollout).where(Rollout.stage.in_(ACTIVE_STAGES))).all():
        to = advance(rollout)
        if to is not None:
            moved.append((rollout.id, to))
    return moved


def cancel_rollout(rollout: Rollout, user_id: int) -> Rollout:
    """Stop an active rollout; from the full stage the alias goes back to the baseline. 409 if over."""
    if not rollout.active or not change_stage(rollout, "cancelled", f"cancelled by user {user_id}"):
        db.session.refresh(rollout)
        raise ApiError(409, f"Rollout {rollout.id} is {rollout.stage} already.", "rollout_finished")
    db.session.refresh(rollout)
    return rollout
