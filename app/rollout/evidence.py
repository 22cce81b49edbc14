"""A rollout's evidence from the stored pairs: two aggregate queries, whatever the volume."""

from __future__ import annotations

from sqlalchemy import and_, case, func, select

from app.extensions import db
from app.feedback.models import COUNTED_FEEDBACK, Feedback
from app.predict.models import Prediction
from app.rollout.decision import Evidence
from app.rollout.models import Rollout
from app.rollout.models import ShadowPrediction as Shadow


def _sum(condition) -> object:  # noqa: ANN001 - a SQL boolean expression
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def gather(rollout: Rollout) -> Evidence:
    """Agreement over every pair, paired correctness over the labelled ones (counted feedback
    only: a verdict by the user the prediction belongs to), candidate-served counts per stage."""
    cand, base = rollout.candidate_version, rollout.baseline_version
    pair = and_(
        Shadow.rollout_id == rollout.id,
        Shadow.prediction_id == Prediction.id,
        # Only rows where the two versions are the rollout's own (an alias moved by hand meanwhile
        # would make a pair of some other version).
        Shadow.version.in_((cand, base)),
        Prediction.model_version.in_((cand, base)),
        Shadow.version != Prediction.model_version,
    )
    served_by_candidate = Prediction.model_version == cand
    shadowed, agreed, canary, full = db.session.execute(
        select(
            func.count(),
            _sum(Shadow.predicted == Prediction.predicted),
            _sum(and_(served_by_candidate, Shadow.stage == "canary")),
            _sum(and_(served_by_candidate, Shadow.stage == "full")),
        ).where(pair)
    ).one()
    cand_pred = case((served_by_candidate, Prediction.predicted), else_=Shadow.predicted)
    base_pred = case((served_by_candidate, Shadow.predicted), else_=Prediction.predicted)
    c_ok, b_ok = cand_pred == Feedback.label, base_pred == Feedback.label
    both, only_c, only_b, none = db.session.execute(
        select(
            _sum(and_(c_ok, b_ok)),
            _sum(and_(c_ok, ~b_ok)),
            _sum(and_(~c_ok, b_ok)),
            _sum(and_(~c_ok, ~b_ok)),
        )
        .select_from(Shadow)
        .join(Prediction, pair)
        .join(Feedback, COUNTED_FEEDBACK)
        .where(Feedback.label.is_not(None))
    ).one()
    return Evidence(
        shadowed=int(shadowed),
        agreed=int(agreed),
        both_right=int(both),
        only_candidate=int(only_c),
        only_baseline=int(only_b),
        both_wrong=int(none),
        canary_served=int(canary),
        full_served=int(full),
    )
