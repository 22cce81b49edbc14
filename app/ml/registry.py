"""MLflow 3 registry glue: tracking store layout, bootstrap of v1/v2, and the
thread-safe ``ModelStore`` that serves models by registry alias.

Layout (default): ``sqlite:///<root>/mlruns/mlflow.db`` for tracking and the
registry, artifacts under ``<root>/mlruns/artifacts/<experiment>``. The plain
file store is avoided because MLflow 3.17 refuses it by default.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from app.ml import data, models, realworld
from app.ml.errors import ModelNotFound, ModelUnavailable

MODEL_NAME = "digit-classifier"
BOOTSTRAP_EXPERIMENT = "Digit Bootstrap"
RETRAIN_EXPERIMENT = "Retraining Experiment"
BOOTSTRAP_PLAN = (("v1", models.V1_FAMILY), ("v2", models.V2_FAMILY))
CHAMPION = "champion"
# MLflow reserves aliases matching v<digits> (they would read as versions), so
# our public aliases "v1", "v2" live in the registry as "model-v1", "model-v2".
# Every function here takes and returns the public names.
_RESERVED_ALIAS = re.compile(r"^[vV]\d+$")
_REGISTRY_PREFIX = "model-"
_VALID_ALIAS = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,200}$")


def registry_alias(alias: str) -> str:
    """Public alias -> the name stored in the MLflow registry."""
    if not _VALID_ALIAS.match(alias) or alias.lower() == "latest":
        raise ValueError(f"invalid alias name {alias!r}")
    return _REGISTRY_PREFIX + alias if _RESERVED_ALIAS.match(alias) else alias


def public_alias(stored: str) -> str:
    """Registry alias name -> public alias (inverse of ``registry_alias``)."""
    rest = stored[len(_REGISTRY_PREFIX) :]
    return rest if stored.startswith(_REGISTRY_PREFIX) and _RESERVED_ALIAS.match(rest) else stored


def model_uri(alias: str, name: str = MODEL_NAME) -> str:
    """``models:/`` URI of a public alias, e.g. for ``mlflow models serve``."""
    return f"models:/{name}@{registry_alias(alias)}"


def set_alias(client: MlflowClient, alias: str, version: str, name: str = MODEL_NAME) -> None:
    client.set_registered_model_alias(name, registry_alias(alias), str(version))


# --------------------------------------------------------------------------- store layout


def default_tracking_uri(base_dir: str | os.PathLike[str]) -> str:
    """``sqlite:///<abs base_dir>/mlruns/mlflow.db``."""
    return f"sqlite:///{(Path(base_dir).resolve() / 'mlruns' / 'mlflow.db').as_posix()}"


def _sqlite_path(tracking_uri: str) -> Path | None:
    if tracking_uri.startswith("sqlite:///"):
        return Path(tracking_uri[len("sqlite:///") :])
    return None


def artifact_root(tracking_uri: str) -> str | None:
    """Artifact directory beside a SQLite store (None: let the server decide)."""
    db = _sqlite_path(tracking_uri)
    return str(db.parent / "artifacts") if db else None


def configure(tracking_uri: str) -> None:
    """Point MLflow's global (fluent) API at ``tracking_uri`` for tracking and
    registry. Called before every fluent use because MLflow keeps it global."""
    db = _sqlite_path(tracking_uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)


def client_for(tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def ensure_experiment(client: MlflowClient, name: str, tracking_uri: str) -> str:
    """Experiment id, creating it with an explicit artifact location so
    artifacts never land in the current working directory."""
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    root = artifact_root(tracking_uri)
    location = None
    if root:
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        location = Path(root, slug).as_uri()
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException:
        # Lost a creation race with another process/thread.
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def get_alias_version(client: MlflowClient, alias: str, name: str = MODEL_NAME) -> Any | None:
    """ModelVersion behind ``alias`` or None when the alias (or model) is missing."""
    try:
        return client.get_model_version_by_alias(name, registry_alias(alias))
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def version_family(client: MlflowClient, mv: Any) -> str:
    """Family of a registered version: version tag, else its run's params."""
    family = (mv.tags or {}).get("family")
    if not family and mv.run_id:
        run = client.get_run(mv.run_id)
        family = run.data.params.get("family") or run.data.tags.get("family")
    if not family:
        raise ValueError(f"cannot tell the model family of version {mv.version}")
    return family


def load_version(client: MlflowClient, version: str, name: str = MODEL_NAME) -> Any:
    """Load the fitted sklearn Pipeline of a version. Uses the resolved
    artifact location, so it does not depend on MLflow's global URIs."""
    import mlflow.sklearn

    uri = client.get_model_version_download_uri(name, str(version))
    return mlflow.sklearn.load_model(uri)


# --------------------------------------------------------------------------- logging runs


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
    """Log one training run (fluent API; call ``configure`` first), with the
    holdout and the real-world evaluation set (overall and per kind;
    ``real_world`` is computed here when not given).

    Returns (run_id, model_uri, params, metrics) as logged.
    """
    if real_world is None:
        real_world = realworld.evaluate(model)
    all_params: dict[str, Any] = {
        "family": family,
        "n_train": int(len(y_train)),
        "data_hash": data.data_hash(X_train, y_train),
        "holdout_n": holdout["n"],
        **{f"hp_{k}": v for k, v in hyperparams.items()},
        **(params or {}),
    }
    all_metrics: dict[str, float] = {
        "holdout_accuracy": holdout["accuracy"],
        "train_seconds": round(train_seconds, 3),
        "converged": float(models.converged(model)),
        **{f"holdout_precision_{c}": p for c, p in enumerate(holdout["precision"])},
        **{f"holdout_recall_{c}": r for c, r in enumerate(holdout["recall"])},
        **realworld.metrics(real_world),
        **(metrics or {}),
    }
    example = np.asarray(X_train[:2], dtype=np.float32)
    signature = infer_signature(example, model.predict_proba(example))
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.set_tags({"family": family, **(tags or {})})
        mlflow.log_params({k: v for k, v in all_params.items() if v is not None})
        mlflow.log_metrics({k: float(v) for k, v in all_metrics.items() if v is not None})
        with tempfile.TemporaryDirectory() as tmp:
            png = Path(tmp, "confusion_matrix.png")
            png.write_bytes(
                models.confusion_matrix_png(holdout["confusion_matrix"], title=f"{run_name} (holdout)")
            )
            mlflow.log_artifact(str(png))
        mlflow.log_dict(holdout["report"], "classification_report.json")
        mlflow.log_dict(real_world, "realworld.json")
        for fname, obj in (json_artifacts or {}).items():
            mlflow.log_dict(obj, fname)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            input_example=example,
            # skops (safe format) must be told about our own transformer classes.
            skops_trusted_types=models.SKOPS_TRUSTED_TYPES,
            # Serving answers with class probabilities (n, 10), not just labels.
            pyfunc_predict_fn="predict_proba",
            # Explicit: MLflow's inference spawns a subprocess (~4 s per model).
            pip_requirements=_pip_requirements(),
        )
    return run.info.run_id, info.model_uri, all_params, all_metrics


def _pip_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in ("mlflow", "scikit-learn", "numpy", "scipy", "skops")]


def register(
    client: MlflowClient, model_uri: str, run_id: str, tags: dict[str, str], name: str = MODEL_NAME
) -> str:
    """Register ``model_uri`` as a new version of ``name``; returns the version."""
    mv = mlflow.register_model(model_uri, name, tags={k: str(v) for k, v in tags.items()})
    return str(mv.version)


# --------------------------------------------------------------------------- bootstrap


def bootstrap(
    tracking_uri: str, *, limit: int | None = None, log: Callable[[str], Any] = print
) -> dict[str, Any]:
    """Train and register v1 (baseline) and v2 (champion) unless they exist.

    Idempotent: aliases that already exist are left alone; ``champion`` is
    only set when missing (a later retrain may have moved it).
    """
    configure(tracking_uri)
    client = client_for(tracking_uri)
    existing = {alias: get_alias_version(client, alias) for alias, _ in BOOTSTRAP_PLAN}
    created: list[str] = []
    runs: dict[str, str] = {}
    accuracy: dict[str, float] = {}
    todo = [(a, f) for a, f in BOOTSTRAP_PLAN if existing[a] is None]
    if todo:
        split = data.load_split(limit=limit)
        train_set = data.training_set(limit=limit)
        exp_id = ensure_experiment(client, BOOTSTRAP_EXPERIMENT, tracking_uri)
        for alias, family in todo:
            log(f"training {alias} ({family}) on {len(train_set.y)} images")
            hp = models.resolve_hyperparams(family)
            t0 = time.perf_counter()
            model = models.train(
                family, train_set.X, train_set.y, sample_weight=train_set.weight, seed=0, **hp
            )
            seconds = time.perf_counter() - t0
            holdout = models.evaluate(model, split.X_holdout, split.y_holdout)
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
                params={
                    "seed": 0,
                    "limit": limit,
                    "alias": alias,
                    "n_mnist": train_set.n_mnist,
                    "n_synthetic": len(train_set.y) - train_set.n_mnist,
                    "synthetic_weight": data.SYNTHETIC_WEIGHT,
                },
                real_world=real_world,
            )
            version = register(
                client,
                uri,
                run_id,
                {
                    "family": family,
                    "alias_at_bootstrap": alias,
                    "holdout_accuracy": holdout["accuracy"],
                    "realworld_accuracy": real_world["accuracy"],
                },
            )
            set_alias(client, alias, version)
            log(
                f"{alias}: version {version}, holdout accuracy {holdout['accuracy']:.4f}, "
                f"real-world {real_world['accuracy']:.4f}, {seconds:.1f}s"
            )
            created.append(alias)
            runs[alias] = run_id
            accuracy[alias] = holdout["accuracy"]
    if get_alias_version(client, CHAMPION) is None:
        v2 = get_alias_version(client, "v2")
        set_alias(client, CHAMPION, v2.version)
        created.append(CHAMPION)
    aliases = registry_aliases(client)
    if not created:
        log(f"models already registered: {aliases}")
    return {"created": created, "aliases": aliases, "runs": runs, "accuracy": accuracy}


def registry_aliases(client: MlflowClient, name: str = MODEL_NAME) -> dict[str, str]:
    try:
        rm = client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return {}
        raise
    return {public_alias(alias): str(v) for alias, v in (rm.aliases or {}).items()}


# --------------------------------------------------------------------------- serving store


class ModelStore:
    """Per-process cache of ``DigitModel``s keyed by registry alias.

    ``get`` loads an alias once (concurrent first requests wait for one load).
    ``refresh`` swaps in the new version when an alias moved: the new model is
    loaded first and the dict entry replaced in one assignment, so requests
    always see a complete model; a failed load keeps the last good one and
    records the error in ``errors[alias]``.
    """

    def __init__(self, tracking_uri: str, *, model_name: str = MODEL_NAME) -> None:
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self._client_obj: MlflowClient | None = None
        self._models: dict[str, models.DigitModel] = {}
        self._fitted: dict[str, Any] = {}  # version -> fitted pipeline (aliases may share one)
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._last_check = float("-inf")
        self.errors: dict[str, str] = {}
        self.last_refresh: float | None = None  # wall-clock time of the last completed check

    @property
    def _client(self) -> MlflowClient:
        # Created lazily: MlflowClient opens (and may create) the store at
        # construction, which must not make the web app fail to start.
        if self._client_obj is None:
            try:
                self._client_obj = client_for(self.tracking_uri)
            except Exception as exc:  # noqa: BLE001 - any store failure is "unavailable"
                raise ModelUnavailable(f"model registry unavailable: {exc}") from exc
        return self._client_obj

    def _alias_lock(self, alias: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(alias, threading.Lock())

    def _resolve(self, alias: str) -> Any:
        try:
            mv = get_alias_version(self._client, alias, self.model_name)
        except MlflowException as exc:
            raise ModelUnavailable(f"model registry unavailable: {exc.message}") from exc
        if mv is None:
            raise ModelNotFound(f"no model version has alias {alias!r}")
        return mv

    def _load(self, alias: str, mv: Any) -> models.DigitModel:
        version = str(mv.version)
        fitted = self._fitted.get(version)
        if fitted is None:
            try:
                fitted = load_version(self._client, version, self.model_name)
            except Exception as exc:  # noqa: BLE001 - any loader failure means "unavailable"
                raise ModelUnavailable(f"cannot load version {version}: {exc}") from exc
        dm = models.DigitModel(
            fitted, alias=alias, version=version, run_id=mv.run_id, family=(mv.tags or {}).get("family")
        ).load()
        self._fitted[version] = fitted
        return dm

    def get(self, alias: str) -> models.DigitModel:
        """The model currently served for ``alias`` (loaded on first use)."""
        model = self._models.get(alias)
        if model is not None:
            return model
        with self._alias_lock(alias):
            model = self._models.get(alias)
            if model is None:
                model = self._load(alias, self._resolve(alias))
                self._models[alias] = model
        return model

    def refresh(self) -> list[dict[str, Any]]:
        """Re-resolve every cached alias; returns the changes (and failures)."""
        changes: list[dict[str, Any]] = []
        for alias, current in list(self._models.items()):
            with self._alias_lock(alias):
                try:
                    mv = self._resolve(alias)
                    if str(mv.version) == current.version:
                        self.errors.pop(alias, None)
                        continue
                    new = self._load(alias, mv)
                except (ModelNotFound, ModelUnavailable) as exc:
                    self.errors[alias] = str(exc)
                    changes.append({"alias": alias, "old": current.version, "new": None, "error": str(exc)})
                    continue
                self._models[alias] = new  # single reference swap: readers see old or new
                self.errors.pop(alias, None)
                changes.append({"alias": alias, "old": current.version, "new": new.version, "error": None})
        self._prune()
        self.last_refresh = time.time()
        return changes

    def maybe_refresh(self, min_interval_s: float) -> list[dict[str, Any]] | None:
        """``refresh`` at most every ``min_interval_s`` seconds; never blocks:
        if another thread is refreshing, return None at once."""
        if time.monotonic() - self._last_check < min_interval_s:
            return None
        if not self._refresh_lock.acquire(blocking=False):
            return None
        try:
            if time.monotonic() - self._last_check < min_interval_s:
                return None
            # Stamp first so a failing registry is not hammered by every request.
            self._last_check = time.monotonic()
            return self.refresh()
        finally:
            self._refresh_lock.release()

    def _prune(self) -> None:
        live = {m.version for m in self._models.values()}
        for version in [v for v in self._fitted if v not in live]:
            self._fitted.pop(version, None)

    def served(self) -> dict[str, str]:
        """{alias: version} currently cached and served by this process."""
        return {alias: m.version for alias, m in self._models.items() if m.version is not None}

    def aliases(self) -> dict[str, str]:
        """{alias: version} as known by the registry right now."""
        try:
            return registry_aliases(self._client, self.model_name)
        except MlflowException as exc:
            raise ModelUnavailable(f"model registry unavailable: {exc.message}") from exc

    def versions(self) -> list[dict[str, Any]]:
        """Registered versions, newest first, with their public aliases."""
        try:
            found = self._client.search_model_versions(f"name='{self.model_name}'")
            by_version: dict[str, list[str]] = {}
            # search_model_versions leaves ModelVersion.aliases empty: ask the model.
            for alias, version in registry_aliases(self._client, self.model_name).items():
                by_version.setdefault(version, []).append(alias)
        except MlflowException as exc:
            raise ModelUnavailable(f"model registry unavailable: {exc.message}") from exc
        rows = []
        for mv in sorted(found, key=lambda m: int(m.version), reverse=True):
            tags = mv.tags or {}
            rows.append(
                {
                    "version": str(mv.version),
                    "aliases": sorted(by_version.get(str(mv.version), [])),
                    "run_id": mv.run_id,
                    "family": tags.get("family"),
                    "holdout_accuracy": float(tags["holdout_accuracy"])
                    if tags.get("holdout_accuracy")
                    else None,
                    "promotion_decision": tags.get("promotion_decision"),
                    "created_ms": mv.creation_timestamp,
                }
            )
        return rows

    def ping(self) -> None:
        """Cheap reachability check of the tracking/registry store; raises
        ModelUnavailable on failure."""
        try:
            self._client.search_experiments(max_results=1)
        except Exception as exc:  # noqa: BLE001 - health check: any failure is "down"
            raise ModelUnavailable(f"model registry unreachable: {exc}") from exc

    def info(self) -> dict[str, Any]:
        return {
            "served": {a: m.info() for a, m in self._models.items()},
            "errors": dict(self.errors),
            "last_refresh": self.last_refresh,
        }


def dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=str)
