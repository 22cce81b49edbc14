"""Retraining core: pure (no DB, no Flask). The caller collects feedback
images (already passed through ``preprocess_image``) into a ``RetrainRequest``,
runs ``retrain`` in a worker and marks its job failed if an exception propagates.

Steps: gather feedback, train, evaluate against the serving version, log and
register, ``decide_promotion`` (pure) and apply the decision.

Gate (``app.ml.promotion``): the target alias moves to the new version only when it
is at least the current version's accuracy plus ``margin`` on the fixed MNIST holdout,
the real-world evaluation set (``app.ml.realworld``) and, paired image by image, the
held-out feedback-labelled images; and strictly better on one of them (ties never
promote). The alias is moved last (through the caller's ``move``: the app records
every move), so any failure before it leaves the alias where it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.ml import data, families, realworld, registry, tracking
from app.ml.feedback_set import FeedbackSplit, gather_feedback, split_feedback
from app.ml.promotion import Paired, Promotion, apply_promotion, decide_promotion, paired_counts

__all__ = ["REQUEST_HYPERPARAMS", "RetrainRequest", "RetrainResult", "decide_promotion", "retrain"]
__all__ += ["Promotion", "request_hyperparams", "split_feedback"]

# The hyper-parameters a retrain request may set (each family validates its own).
REQUEST_HYPERPARAMS = ("epochs", "learning_rate")
Progress = Callable[[int, str], None]  # (percent 0-100, step) reports
Mover = registry.AliasMover  # move(alias, version, reason): how a promotion moves an alias


def request_hyperparams(params: Mapping[str, Any]) -> dict[str, Any]:
    """The request's hyper-parameters that were given (None means "the family's default")."""
    return {k: params[k] for k in REQUEST_HYPERPARAMS if params.get(k) is not None}


@dataclass(frozen=True)
class RetrainRequest:
    """Everything one retrain needs; feedback arrays are (n, 784) images and their labels."""

    tracking_uri: str
    base_alias: str = registry.BASE_ALIAS
    family: str | None = None
    hyperparams: Mapping[str, Any] | None = None
    extra_X: np.ndarray | None = None
    extra_y: Sequence[int] | np.ndarray | None = None  # labels 0-9
    feedback_ids: Sequence[int] = ()
    feedback_times: Sequence[Any] | None = None  # datetimes or numbers, for the time split
    feedback_weight: float = 5.0
    promote_to: str | None = None
    margin: float = 0.0
    seed: int = 0
    limit: int | None = None
    shuffle_labels: bool = False  # test hook: labels shuffled, a worse model
    job_id: str | int | None = None
    requested_by: str | None = None
    model_name: str = registry.MODEL_NAME


@dataclass
class RetrainResult:
    run_id: str
    experiment_id: str
    registered_version: str
    holdout_accuracy: float
    baseline_accuracy: float | None
    feedback_accuracy: float | None
    promoted: bool
    decision: str
    realworld_accuracy: float | None = None
    baseline_realworld_accuracy: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    n_feedback_used: int = 0
    note: str = ""
    family: str = ""
    base_version: str | None = None
    target_alias: str | None = None
    baseline_version: str | None = None
    paired: Paired | None = None  # candidate vs the baseline on the held-out feedback images


@dataclass
class _Candidate:
    """The newly trained model and what it was trained on."""

    model: Any
    X: np.ndarray
    y: np.ndarray
    seconds: float
    training: data.TrainingSet


@dataclass
class _Evaluation:
    """The candidate's figures and those of the version serving the target alias."""

    holdout: dict[str, Any]
    real_world: dict[str, Any]
    feedback: dict[str, Any] | None
    current: Any  # the ModelVersion behind the target alias, or None
    baseline: dict[str, float | None]  # holdout, real-world, feedback of ``current``
    paired: Paired | None = None  # candidate vs ``current`` on the held-out feedback images


def _train(
    req: RetrainRequest, family: str, hp: dict[str, Any], fb: FeedbackSplit, progress: Progress
) -> _Candidate:
    train_set = data.training_set(limit=req.limit)
    y_base = train_set.y
    if req.shuffle_labels:
        y_base = np.random.default_rng(req.seed).permutation(y_base)
    X = np.concatenate([train_set.X, fb.X[fb.train]])
    y = np.concatenate([y_base, fb.y[fb.train]])
    weight = np.concatenate([train_set.weight, np.full(len(fb.train), float(req.feedback_weight))])
    progress(10, f"training {family} on {len(y)} images ({len(fb.train)} from feedback)")
    t0 = time.perf_counter()
    model = families.train(family, X, y, sample_weight=weight, seed=req.seed, **hp)
    return _Candidate(model, X, y, time.perf_counter() - t0, train_set)


def _evaluate(client: Any, req: RetrainRequest, model: Any, fb: FeedbackSplit) -> _Evaluation:
    split = data.load_split(limit=req.limit)
    evX, evy = fb.X[fb.eval], fb.y[fb.eval]
    holdout = families.evaluate(model, split.X_holdout, split.y_holdout)
    real_world = realworld.evaluate(model)
    feedback = families.evaluate(model, evX, evy) if len(fb.eval) else None
    current = registry.get_alias_version(client, req.promote_to or req.base_alias, req.model_name)
    baseline: dict[str, float | None] = {"holdout": None, "real-world": None, "feedback": None}
    paired = None
    if current is not None:
        serving = registry.load_version(client, current.version, req.model_name)
        baseline["holdout"] = families.evaluate(serving, split.X_holdout, split.y_holdout)["accuracy"]
        baseline["real-world"] = realworld.evaluate(serving)["accuracy"]
        if len(fb.eval):
            baseline["feedback"] = families.evaluate(serving, evX, evy)["accuracy"]
            paired = paired_counts(model.predict(evX), serving.predict(evX), evy)
    return _Evaluation(holdout, real_world, feedback, current, baseline, paired)


def _run_params(
    req: RetrainRequest, base_version: str, cand: _Candidate, fb: FeedbackSplit
) -> dict[str, Any]:
    return {
        "base_alias": req.base_alias,
        "base_version": base_version,
        "seed": req.seed,
        "limit": req.limit,
        **data.training_params(cand.training),
        "n_feedback_total": int(len(fb.y)),
        "n_feedback_train": int(len(fb.train)),
        "n_feedback_eval": int(len(fb.eval)),
        "feedback_weight": float(req.feedback_weight),
        "promote_to": req.promote_to,
        "margin": float(req.margin),
        "shuffle_labels": bool(req.shuffle_labels),
        "job_id": req.job_id,
        "requested_by": req.requested_by,
    }


def _log_and_register(
    client: Any,
    req: RetrainRequest,
    base: Any,
    family: str,
    hp: dict[str, Any],
    cand: _Candidate,
    fb: FeedbackSplit,
    ev: _Evaluation,
    progress: Progress,
) -> tuple[str, str, str, dict[str, Any], dict[str, float]]:
    """Log the run and register the version: (experiment id, run id, version, params, metrics)."""
    progress(70, "logging run")
    exp_id = registry.ensure_experiment(client, tracking.RETRAIN_EXPERIMENT, req.tracking_uri)
    tags = {
        "job_id": str(req.job_id) if req.job_id is not None else "",
        "requested_by": req.requested_by or "",
        "base_version": str(base.version),
        "base_alias": req.base_alias,
    }
    run_id, uri, params, metrics = tracking.log_model_run(
        experiment_id=exp_id,
        run_name=f"retrain-{req.job_id}" if req.job_id is not None else "retrain",
        model=cand.model,
        family=family,
        hyperparams=hp,
        X_train=cand.X,
        y_train=cand.y,
        holdout=ev.holdout,
        train_seconds=cand.seconds,
        params=_run_params(req, str(base.version), cand, fb),
        metrics={
            "feedback_accuracy": ev.feedback["accuracy"] if ev.feedback else None,
            "baseline_accuracy": ev.baseline["holdout"],
            "baseline_realworld_accuracy": ev.baseline["real-world"],
            "baseline_feedback_accuracy": ev.baseline["feedback"],
            "feedback_fixed": ev.paired.candidate_only if ev.paired else None,  # the paired gate's
            "feedback_broken": ev.paired.serving_only if ev.paired else None,  # discordant counts
        },
        real_world=ev.real_world,
        json_artifacts={
            "feedback_ids.json": {"train": fb.train_ids, "eval": fb.eval_ids},
            "feedback_eval.json": ev.feedback["report"] if ev.feedback else {},
        },
        tags=tags,
    )
    progress(85, "registering model version")
    version_tags = {**tags, "family": family, "holdout_accuracy": ev.holdout["accuracy"]}
    version_tags["realworld_accuracy"] = ev.real_world["accuracy"]
    version = tracking.register(uri, version_tags, req.model_name)
    return exp_id, run_id, version, params, {k: v for k, v in metrics.items() if v is not None}


def _noop(pct: int, message: str) -> None:
    pass


def _resolve_base(client: Any, req: RetrainRequest) -> tuple[Any, str, dict[str, Any]]:
    """(base version, family, hyper-parameters); raises before any work on a bad request."""
    base = registry.get_alias_version(client, req.base_alias, req.model_name)
    if base is None:
        raise LookupError(f"base alias {req.base_alias!r} does not exist")
    family = req.family or registry.version_family(client, base)
    return base, family, families.resolve_hyperparams(family, dict(req.hyperparams or {}))


def _decide(req: RetrainRequest, ev: _Evaluation, new: dict[str, float]) -> Promotion:
    return decide_promotion(
        req.promote_to,
        new=new,
        current=None if ev.current is None else {k: ev.baseline[k] for k in new},
        current_version=None if ev.current is None else str(ev.current.version),
        margin=req.margin,
        paired=ev.paired,
    )


def retrain(req: RetrainRequest, progress: Progress = _noop, move: Mover | None = None) -> RetrainResult:
    """Train a new version from the bundled training split plus weighted
    feedback, log and register it, and promote it (through ``move``, default:
    the registry only) if it passes the gate."""
    progress(0, "resolving base model")
    if req.feedback_weight <= 0:
        raise ValueError("feedback_weight must be positive")
    if req.promote_to is not None:
        registry.registry_alias(req.promote_to)  # validate the name before any work
    registry.configure(req.tracking_uri)
    client = registry.client_for(req.tracking_uri)
    base, family, hp = _resolve_base(client, req)
    fb = gather_feedback(req.extra_X, req.extra_y, req.feedback_ids, req.feedback_times)
    cand = _train(req, family, hp, fb, progress)
    progress(55, "evaluating on holdout and real-world set")
    ev = _evaluate(client, req, cand.model, fb)
    exp_id, run_id, version, params, metrics = _log_and_register(
        client, req, base, family, hp, cand, fb, ev, progress
    )
    new = {"holdout": ev.holdout["accuracy"], "real-world": ev.real_world["accuracy"]}
    decision = _decide(req, ev, new)
    apply_promotion(
        client,
        decision,
        target=req.promote_to,
        current=ev.current,
        version=version,
        run_id=run_id,
        name=req.model_name,
        progress=progress,
        move=move,
    )
    progress(100, decision.reason)
    return RetrainResult(
        run_id=run_id,
        experiment_id=exp_id,
        registered_version=version,
        holdout_accuracy=new["holdout"],
        baseline_accuracy=ev.baseline["holdout"],
        feedback_accuracy=ev.feedback["accuracy"] if ev.feedback else None,
        realworld_accuracy=new["real-world"],
        baseline_realworld_accuracy=ev.baseline["real-world"],
        promoted=decision.promoted,
        decision=decision.reason,
        metrics=metrics,
        params=params,
        n_feedback_used=int(len(fb.train)),
        note="no new feedback" if len(fb.y) == 0 else "",
        family=family,
        base_version=str(base.version),
        target_alias=req.promote_to,
        baseline_version=str(ev.current.version) if ev.current is not None else None,
        paired=ev.paired,
    )
