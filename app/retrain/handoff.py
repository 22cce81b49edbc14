"""A retrain's candidate handed to a staged rollout instead of moving the alias (`"rollout": true`).

The retrain core runs without a target alias (so it moves nothing); this module applies the same
promotion gate to its figures and, when the candidate passes, starts a rollout of it on the base
alias. The job then says so: succeeded, not promoted, `metrics.rollout_id`.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from app.errors import ApiError
from app.extensions import db
from app.ml.promotion import decide_promotion
from app.ml.retrain import RetrainRequest, RetrainResult
from app.retrain.jobs import update_job
from app.retrain.models import RetrainJob
from app.rollout.service import start_rollout
from app.timeutil import utcnow

log = logging.getLogger(__name__)


def wants_rollout(job: RetrainJob) -> bool:
    return bool((job.params or {}).get("rollout"))


def without_target(req: RetrainRequest) -> RetrainRequest:
    """The request the core runs for a hand-off: no alias to move; compared with the base."""
    return replace(req, promote_to=None)


def hand_off(
    job_id: int, alias: str, requested_by: int | None, req: RetrainRequest, result: RetrainResult
) -> None:
    """Gate the candidate as a promotion would; if it passes, start its rollout on ``alias``."""
    new = {"holdout": result.holdout_accuracy, "real-world": result.realworld_accuracy}
    current = None
    if result.baseline_version is not None:
        current = {"holdout": result.baseline_accuracy, "real-world": result.baseline_realworld_accuracy}
    gate = decide_promotion(
        alias,
        new=new,
        current=current,
        current_version=result.baseline_version,
        margin=req.margin,
        paired=result.paired,
    )
    if not gate.promoted:
        _finish(job_id, status="rejected", decision=f"no rollout: {gate.reason}")
        return
    try:
        rollout = start_rollout(
            alias,
            result.registered_version,
            created_by=requested_by,
            source="retrain",
            retrain_job_id=job_id,
        )
    except ApiError as exc:  # e.g. the alias has an active rollout already (409)
        log.warning("retrain job %s: no rollout started: %s", job_id, exc.message)
        _finish(job_id, status="rejected", decision=f"passed the gate, but no rollout: {exc.message}")
        return
    _finish(
        job_id,
        status="succeeded",
        decision=f"handed to rollout {rollout.id} on {alias}: {gate.reason}",
        metrics={**_stored_metrics(job_id), "rollout_id": rollout.id},
    )


def _finish(job_id: int, **values: Any) -> None:
    # The job's end: record_result left it running, with its lock, for this hand-off.
    update_job(job_id, active_lock=None, progress=100, step="done", finished_at=utcnow(), **values)


def _stored_metrics(job_id: int) -> dict[str, Any]:
    job = db.session.get(RetrainJob, job_id)
    return dict(job.metrics or {}) if job is not None else {}
