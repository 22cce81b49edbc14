"""Retraining core: pure (no DB, no Flask). The caller collects feedback
images (already passed through ``preprocess_image``), runs this in a worker
and marks its job failed if an exception propagates.

Gate: the target alias moves to the new version only when it is at least the
current version's accuracy plus ``margin`` on *both* the fixed MNIST holdout
and the real-world evaluation set (``app.ml.realworld``), so a retrain cannot
buy MNIST points with real uploads or the reverse. The alias is moved last,
so any failure before it leaves the alias where it was.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from app.ml import data, models, realworld, registry

log = logging.getLogger(__name__)

FEEDBACK_EVAL_FRACTION = 0.2  # newest share of feedback kept out of training
MIN_FEEDBACK_FOR_SPLIT = 5  # below this, all feedback is used for training


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _noop(pct: int, message: str) -> None:
    pass


def _time_key(t: Any) -> float:
    if isinstance(t, datetime):
        return t.timestamp()
    return float(t)


def split_feedback(n: int, times: Sequence[Any] | None) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, eval): the newest ~20% (by time) are held out for
    evaluation so feedback accuracy measures generalisation forward in time."""
    order = np.arange(n)
    if times is not None and len(times) == n and n:
        order = np.argsort(np.array([_time_key(t) for t in times]), kind="stable")
    if n < MIN_FEEDBACK_FOR_SPLIT:
        return order, np.array([], dtype=np.int64)
    n_eval = max(1, math.ceil(n * FEEDBACK_EVAL_FRACTION))
    return order[: n - n_eval], order[n - n_eval :]


def gate(
    target: str | None,
    *,
    new: dict[str, float],
    current: dict[str, float | None] | None,
    current_version: str | None,
    margin: float,
) -> tuple[bool, str]:
    """Promotion decision: every score of ``new`` (holdout, real-world) must be
    at least the current version's plus ``margin``. Returns (promoted, decision)."""
    scores = ", ".join(f"{name} {value:.4f}" for name, value in new.items())
    if target is None:
        return False, f"not promoted: no target alias requested ({scores})"
    if current is None or any(current.get(name) is None for name in new):
        return True, f"promoted to {target}: alias did not exist ({scores})"
    checks = [(name, value, float(current[name])) for name, value in new.items()]
    promoted = all(value >= old + margin for _, value, old in checks)
    verdicts = "; ".join(
        f"{name} {value:.4f} {'>=' if value >= old + margin else '<'} current version {current_version}'s "
        f"{old:.4f} + margin {margin:g}"
        for name, value, old in checks
    )
    return promoted, f"{'promoted to' if promoted else 'rejected for'} {target}: {verdicts}"


def retrain(
    *,
    tracking_uri: str,
    base_alias: str = "v2",
    family: str | None = None,
    hyperparams: dict[str, Any] | None = None,
    extra_X: np.ndarray | None = None,
    extra_y: Sequence[int] | np.ndarray | None = None,
    feedback_ids: Sequence[int] = (),
    feedback_times: Sequence[Any] | None = None,
    feedback_weight: float = 5.0,
    promote_to: str | None = None,
    margin: float = 0.0,
    seed: int = 0,
    limit: int | None = None,
    shuffle_labels: bool = False,
    job_id: str | int | None = None,
    requested_by: str | None = None,
    progress: Callable[[int, str], None] = _noop,
) -> RetrainResult:
    """Train a new version from the bundled training split plus weighted
    feedback, log and register it, and promote it if it passes the gate."""
    progress(0, "resolving base model")
    if feedback_weight <= 0:
        raise ValueError("feedback_weight must be positive")
    if promote_to is not None:
        registry.registry_alias(promote_to)  # validate the name before any work
    registry.configure(tracking_uri)
    client = registry.client_for(tracking_uri)
    base = registry.get_alias_version(client, base_alias)
    if base is None:
        raise LookupError(f"base alias {base_alias!r} does not exist")
    family = family or registry.version_family(client, base)
    hp = models.resolve_hyperparams(family, hyperparams)

    # Feedback: time split into training part and evaluation part.
    ids = [int(i) for i in feedback_ids]
    fX = np.zeros((0, models.N_PIXELS), np.float32) if extra_X is None else models.as_batch(extra_X)
    if len(fX) == 0:
        fX = np.zeros((0, models.N_PIXELS), np.float32)
    fy = np.asarray([] if extra_y is None else extra_y, dtype=np.int64).reshape(-1)
    if len(fy) != len(fX) or (ids and len(ids) != len(fX)):
        raise ValueError("extra_X, extra_y and feedback_ids must have the same length")
    if len(fy) and (fy.min() < 0 or fy.max() >= models.N_CLASSES):
        raise ValueError("feedback labels must be digits 0-9")
    tr_idx, ev_idx = split_feedback(len(fy), feedback_times)
    used_ids = [ids[i] for i in tr_idx] if ids else []
    eval_ids = [ids[i] for i in ev_idx] if ids else []
    note = "no new feedback" if len(fy) == 0 else ""

    split = data.load_split(limit=limit)
    train_set = data.training_set(limit=limit)
    y_base = train_set.y
    if shuffle_labels:
        y_base = np.random.default_rng(seed).permutation(y_base)  # test hook: a worse model
    X = np.concatenate([train_set.X, fX[tr_idx]])
    y = np.concatenate([y_base, fy[tr_idx]])
    weight = np.concatenate([train_set.weight, np.full(len(tr_idx), float(feedback_weight))])

    progress(10, f"training {family} on {len(y)} images ({len(tr_idx)} from feedback)")
    t0 = time.perf_counter()
    model = models.train(family, X, y, sample_weight=weight, seed=seed, **hp)
    train_seconds = time.perf_counter() - t0

    progress(55, "evaluating on holdout and real-world set")
    holdout = models.evaluate(model, split.X_holdout, split.y_holdout)
    real_world = realworld.evaluate(model)
    feedback_eval = models.evaluate(model, fX[ev_idx], fy[ev_idx]) if len(ev_idx) else None
    target = promote_to or base_alias
    current = registry.get_alias_version(client, target)
    baseline_acc = baseline_fb = baseline_rw = None
    if current is not None:
        cur_model = registry.load_version(client, current.version)
        baseline_acc = models.evaluate(cur_model, split.X_holdout, split.y_holdout)["accuracy"]
        baseline_rw = realworld.evaluate(cur_model)["accuracy"]
        if len(ev_idx):
            baseline_fb = models.evaluate(cur_model, fX[ev_idx], fy[ev_idx])["accuracy"]

    progress(70, "logging run")
    exp_id = registry.ensure_experiment(client, registry.RETRAIN_EXPERIMENT, tracking_uri)
    tags = {
        "job_id": str(job_id) if job_id is not None else "",
        "requested_by": requested_by or "",
        "base_version": str(base.version),
        "base_alias": base_alias,
    }
    run_id, uri, params, metrics = registry.log_model_run(
        experiment_id=exp_id,
        run_name=f"retrain-{job_id}" if job_id is not None else "retrain",
        model=model,
        family=family,
        hyperparams=hp,
        X_train=X,
        y_train=y,
        holdout=holdout,
        train_seconds=train_seconds,
        params={
            "base_alias": base_alias,
            "base_version": str(base.version),
            "seed": seed,
            "limit": limit,
            "n_mnist": train_set.n_mnist,
            "n_synthetic": len(train_set.y) - train_set.n_mnist,
            "synthetic_weight": data.SYNTHETIC_WEIGHT,
            "n_feedback_total": int(len(fy)),
            "n_feedback_train": int(len(tr_idx)),
            "n_feedback_eval": int(len(ev_idx)),
            "feedback_weight": float(feedback_weight),
            "promote_to": promote_to,
            "margin": float(margin),
            "shuffle_labels": bool(shuffle_labels),
            "job_id": job_id,
            "requested_by": requested_by,
        },
        metrics={
            "feedback_accuracy": feedback_eval["accuracy"] if feedback_eval else None,
            "baseline_accuracy": baseline_acc,
            "baseline_realworld_accuracy": baseline_rw,
            "baseline_feedback_accuracy": baseline_fb,
        },
        real_world=real_world,
        json_artifacts={
            "feedback_ids.json": {"train": used_ids, "eval": eval_ids},
            "feedback_eval.json": feedback_eval["report"] if feedback_eval else {},
        },
        tags=tags,
    )
    metrics = {k: v for k, v in metrics.items() if v is not None}

    progress(85, "registering model version")
    version = registry.register(
        client,
        uri,
        run_id,
        {
            **tags,
            "family": family,
            "holdout_accuracy": holdout["accuracy"],
            "realworld_accuracy": real_world["accuracy"],
        },
    )

    new_acc, new_rw = holdout["accuracy"], real_world["accuracy"]
    promoted, decision = gate(
        promote_to,
        new={"holdout": new_acc, "real-world": new_rw},
        current=None if current is None else {"holdout": baseline_acc, "real-world": baseline_rw},
        current_version=None if current is None else str(current.version),
        margin=margin,
    )
    if promoted:
        progress(95, f"moving alias {promote_to} to version {version}")
        registry.set_alias(client, promote_to, version)
        # The champion is "the best serving version": when it was the version just replaced
        # (v2 is also champion after bootstrap), it follows the promotion.
        champion = registry.get_alias_version(client, registry.CHAMPION)
        if (
            promote_to != registry.CHAMPION
            and current is not None
            and champion is not None
            and str(champion.version) == str(current.version)
        ):
            registry.set_alias(client, registry.CHAMPION, version)
    # The tags state a fact, so they are written only once it is one: after the alias moved. A
    # process killed before this point leaves an untagged version, never a "promoted" one whose
    # alias stayed where it was.
    # Best effort: the alias (and the job row) are the truth; a failed tag write must not turn a
    # done promotion into a failed job.
    try:
        client.set_tag(run_id, "promotion_decision", decision)
        client.set_tag(run_id, "promoted", str(promoted).lower())
        client.set_model_version_tag(registry.MODEL_NAME, version, "promotion_decision", decision)
        client.set_model_version_tag(registry.MODEL_NAME, version, "promoted", str(promoted).lower())
    except Exception:  # noqa: BLE001 - see above
        log.warning("could not tag version %s with its promotion decision", version, exc_info=True)
    progress(100, decision)

    return RetrainResult(
        run_id=run_id,
        experiment_id=exp_id,
        registered_version=version,
        holdout_accuracy=new_acc,
        baseline_accuracy=baseline_acc,
        feedback_accuracy=feedback_eval["accuracy"] if feedback_eval else None,
        realworld_accuracy=new_rw,
        baseline_realworld_accuracy=baseline_rw,
        promoted=promoted,
        decision=decision,
        metrics=metrics,
        params=params,
        n_feedback_used=int(len(tr_idx)),
        note=note,
        family=family,
        base_version=str(base.version),
        target_alias=promote_to,
        baseline_version=str(current.version) if current is not None else None,
    )
