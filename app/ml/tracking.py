"""Tracking: log a trained model as an MLflow run, register it as a version of
the model, and bootstrap v1/v2 (idempotent)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow import MlflowClient

from app.ml import data, families, realworld, registry

BOOTSTRAP_EXPERIMENT = "Digit Bootstrap"
RETRAIN_EXPERIMENT = "Retraining Experiment"
BOOTSTRAP_PLAN = (("v1", families.V1_FAMILY), (registry.BASE_ALIAS, families.V2_FAMILY))


def _run_params(
    family: str, hyperparams: dict[str, Any], X: np.ndarray, y: np.ndarray, holdout: dict[str, Any]
) -> dict[str, Any]:
    return {
        "family": family,
        "n_train": int(len(y)),
        "data_hash": data.data_hash(X, y),
        "holdout_n": holdout["n"],
        **{f"hp_{k}": v for k, v in hyperparams.items()},
    }


def _run_metrics(
    model: Any, holdout: dict[str, Any], real_world: dict[str, Any], train_seconds: float
) -> dict[str, float]:
    return {
        "holdout_accuracy": holdout["accuracy"],
        "train_seconds": round(train_seconds, 3),
        "converged": float(families.converged(model)),
        **{f"holdout_precision_{c}": p for c, p in enumerate(holdout["precision"])},
        **{f"holdout_recall_{c}": r for c, r in enumerate(holdout["recall"])},
        **realworld.metrics(real_world),
    }


def _log_reports(run_name: str, holdout: dict[str, Any], real_world: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp, "confusion_matrix.png")
        png.write_bytes(
            families.confusion_matrix_png(holdout["confusion_matrix"], title=f"{run_name} (holdout)")
        )
        mlflow.log_artifact(str(png))
    mlflow.log_dict(holdout["report"], "classification_report.json")
    mlflow.log_dict(real_world, "realworld.json")


def _log_model(model: Any, X_train: np.ndarray) -> str:
    # Imported here: mlflow.models' signatures need pandas, which serving workers refuse (they
    # import this module for its names, and never log a model).
    from mlflow.models import infer_signature

    example = np.asarray(X_train[:2], dtype=np.float32)
    info = mlflow.sklearn.log_model(
        model,
        name="model",
        signature=infer_signature(example, model.predict_proba(example)),
        input_example=example,
        # skops (safe format) must be told about our own transformer classes.
        skops_trusted_types=families.SKOPS_TRUSTED_TYPES,
        # Serving answers with class probabilities (n, 10), not just labels.
        pyfunc_predict_fn="predict_proba",
        # Explicit: MLflow's inference spawns a subprocess (~4 s per model).
        pip_requirements=_pip_requirements(),
    )
    return info.model_uri


def log_model_run(
    *,
    experiment_id: str,
    run_name: str,
    model: Any,
    family: str,
    hyperparams: dict[str, Any],
    X_train: np.ndarray,
    y_train: np.ndarray,
    holdout: dict[str, Any],
    train_seconds: float,
    params: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    json_artifacts: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    real_world: dict[str, Any] | None = None,
) -> tuple[str, str, dict[str, Any], dict[str, float]]:
    """Log one training run (fluent API; call ``registry.configure`` first), with
    the holdout and the real-world evaluation set (overall and per kind;
    ``real_world`` is computed here when not given).

    Returns (run_id, model_uri, params, metrics) as logged.
    """
    if real_world is None:
        real_world = realworld.evaluate(model)
    all_params = {**_run_params(family, hyperparams, X_train, y_train, holdout), **(params or {})}
    all_metrics = {**_run_metrics(model, holdout, real_world, train_seconds), **(metrics or {})}
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.set_tags({"family": family, **(tags or {})})
        mlflow.log_params({k: v for k, v in all_params.items() if v is not None})
        mlflow.log_metrics({k: float(v) for k, v in all_metrics.items() if v is not None})
        _log_reports(run_name, holdout, real_world)
        for fname, obj in (json_artifacts or {}).items():
            mlflow.log_dict(obj, fname)
        uri = _log_model(model, X_train)
    return run.info.run_id, uri, all_params, all_metrics


def _pip_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in ("mlflow", "scikit-learn", "numpy", "scipy", "skops")]


def register(model_uri: str, tags: dict[str, Any], name: str = registry.MODEL_NAME) -> str:
    """Register ``model_uri`` as a new version of ``name``; returns the version."""
    mv = mlflow.register_model(model_uri, name, tags={k: str(v) for k, v in tags.items()})
    return str(mv.version)


# --------------------------------------------------------------------------- bootstrap


def _bootstrap_one(
    client: MlflowClient,
    exp_id: str,
    alias: str,
    family: str,
    *,
    limit: int | None,
    model_name: str,
    log: Callable[[str], Any],
    move: registry.AliasMover,
) -> tuple[str, float]:
    """Train, log, register and alias one bootstrap model; returns (run id, holdout accuracy)."""
    split = data.load_split(limit=limit)
    train_set = data.training_set(limit=limit)
    log(f"training {alias} ({family}) on {len(train_set.y)} images")
    hp = families.resolve_hyperparams(family)
    t0 = time.perf_counter()
    model = families.train(family, train_set.X, train_set.y, sample_weight=train_set.weight, seed=0, **hp)
    seconds = time.perf_counter() - t0
    holdout = families.evaluate(model, split.X_holdout, split.y_holdout)
    real_world = realworld.evaluate(model)
    run_id, uri, _, _ = log_model_run(
        experiment_id=exp_id,
        run_name=f"bootstrap-{alias}-{family}",
        model=model,
        family=family,
        hyperparams=hp,
        X_train=train_set.X,
        y_train=train_set.y,
        holdout=holdout,
        train_seconds=seconds,
        params={"seed": 0, "limit": limit, "alias": alias, **data.training_params(train_set)},
        real_world=real_world,
    )
    version = register(
        uri,
        {
            "family": family,
            "alias_at_bootstrap": alias,
            "holdout_accuracy": holdout["accuracy"],
            "realworld_accuracy": real_world["accuracy"],
        },
        model_name,
    )
    move(alias, version, f"bootstrap: {family} trained for {alias}")
    log(
        f"{alias}: version {version}, holdout accuracy {holdout['accuracy']:.4f}, "
        f"real-world {real_world['accuracy']:.4f}, {seconds:.1f}s"
    )
    return run_id, holdout["accuracy"]


def bootstrap(
    tracking_uri: str,
    *,
    limit: int | None = None,
    model_name: str = registry.MODEL_NAME,
    log: Callable[[str], Any] = print,
    move: registry.AliasMover | None = None,
) -> dict[str, Any]:
    """Train and register v1 (baseline) and v2 (champion) unless they exist.

    Idempotent: aliases that already exist are left alone; ``champion`` is
    only set when missing (a later retrain may have moved it). Aliases are set
    through ``move`` (the CLI passes the app's ``move_alias``, which records them).
    """
    registry.configure(tracking_uri)
    client = registry.client_for(tracking_uri)
    move = move or registry.registry_mover(client, model_name)
    todo = [
        (alias, family)
        for alias, family in BOOTSTRAP_PLAN
        if registry.get_alias_version(client, alias, model_name) is None
    ]
    created: list[str] = []
    runs: dict[str, str] = {}
    accuracy: dict[str, float] = {}
    if todo:
        exp_id = registry.ensure_experiment(client, BOOTSTRAP_EXPERIMENT, tracking_uri)
        for alias, family in todo:
            runs[alias], accuracy[alias] = _bootstrap_one(
                client, exp_id, alias, family, limit=limit, model_name=model_name, log=log, move=move
            )
            created.append(alias)
    if registry.get_alias_version(client, registry.CHAMPION, model_name) is None:
        base = registry.get_alias_version(client, registry.BASE_ALIAS, model_name)
        move(registry.CHAMPION, str(base.version), f"bootstrap: champion is {registry.BASE_ALIAS}")
        created.append(registry.CHAMPION)
    aliases = registry.registry_aliases(client, model_name)
    if not created:
        log(f"models already registered: {aliases}")
    return {"created": created, "aliases": aliases, "runs": runs, "accuracy": accuracy}
