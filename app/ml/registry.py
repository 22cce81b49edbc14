"""MLflow access: the store layout, the alias names, clients, experiments and
loading a registered version. Logging runs and bootstrap are ``app.ml.tracking``;
the per-process serving cache is ``app.ml.store``.

Layout (default): ``sqlite:///<root>/mlruns/mlflow.db`` for tracking and the
registry, artifacts under ``<root>/mlruns/artifacts/<experiment>``. The plain
file store is avoided because MLflow 3.17 refuses it by default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

MODEL_NAME = "digit-classifier"  # the default of the MODEL_NAME setting
CHAMPION = "champion"
BASE_ALIAS = "v2"  # what a retrain starts from (and promotes to) unless told otherwise
# A public alias name: what the retrain API accepts and the registry stores.
ALIAS_PATTERN = r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$"
# MLflow reserves aliases matching v<digits> (they would read as versions), so
# our public aliases "v1", "v2" live in the registry as "model-v1", "model-v2".
# Every function here takes and returns the public names.
_RESERVED_ALIAS = re.compile(r"^[vV]\d+$")
_REGISTRY_PREFIX = "model-"
_VALID_ALIAS = re.compile(ALIAS_PATTERN)


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


# How app/ml moves an alias: ``move(alias, version, reason)``. The app passes
# ``app.aliases.move_alias`` (registry + history row); the pure core, used without a
# database (tests, notebooks), falls back to ``registry_mover``: the registry only.
AliasMover = Callable[[str, str, str], Any]


def registry_mover(client: MlflowClient, name: str = MODEL_NAME) -> AliasMover:
    """A mover that only sets the MLflow alias (no history): for callers without a database."""

    def move(alias: str, version: str, reason: str) -> None:
        set_alias(client, alias, version, name)

    return move


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
    from app.ml.artifact import load_sklearn_model

    return load_sklearn_model(client.get_model_version_download_uri(name, str(version)))


def registry_aliases(client: MlflowClient, name: str = MODEL_NAME) -> dict[str, str]:
    try:
        rm = client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return {}
        raise
    return {public_alias(alias): str(v) for alias, v in (rm.aliases or {}).items()}
