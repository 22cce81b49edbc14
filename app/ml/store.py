"""The per-process serving cache: each alias's model loaded once, hot-swapped
when the alias moves in the registry."""

from __future__ import annotations

import threading
import time
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from app.ml import registry
from app.ml.errors import ModelNotFound, ModelUnavailable
from app.ml.runtime import DigitModel


class ModelStore:
    """Per-process cache of ``DigitModel``s keyed by registry alias.

    ``get`` loads an alias once (concurrent first requests wait for one load).
    ``refresh`` swaps in the new version when an alias moved: the new model is
    loaded first and the dict entry replaced in one assignment, so requests
    always see a complete model; a failed load keeps the last good one and
    records the error in ``errors[alias]``.
    """

    def __init__(self, tracking_uri: str, *, model_name: str = registry.MODEL_NAME) -> None:
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self._client_obj: MlflowClient | None = None
        self._models: dict[str, DigitModel] = {}
        self._fitted: dict[str, Any] = {}  # version -> fitted pipeline (aliases may share one)
        # Versions loaded by number (a rollout's candidate and baseline), kept while wanted.
        self._by_version: dict[str, DigitModel] = {}
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
                self._client_obj = registry.client_for(self.tracking_uri)
            except Exception as exc:  # noqa: BLE001 - any store failure is "unavailable"
                raise ModelUnavailable(f"model registry unavailable: {exc}") from exc
        return self._client_obj

    def _alias_lock(self, alias: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(alias, threading.Lock())

    def _resolve(self, alias: str) -> Any:
        try:
            mv = registry.get_alias_version(self._client, alias, self.model_name)
        except MlflowException as exc:
            raise ModelUnavailable(f"model registry unavailable: {exc.message}") from exc
        if mv is None:
            raise ModelNotFound(f"no model version has alias {alias!r}")
        return mv

    def _load(self, alias: str, mv: Any) -> DigitModel:
        version = str(mv.version)
        fitted = self._fitted.get(version)
        if fitted is None:
            try:
                fitted = registry.load_version(self._client, version, self.model_name)
            except Exception as exc:  # noqa: BLE001 - any loader failure means "unavailable"
                raise ModelUnavailable(f"cannot load version {version}: {exc}") from exc
        dm = DigitModel(
            fitted, alias=alias, version=version, run_id=mv.run_id, family=(mv.tags or {}).get("family")
        ).load()
        self._fitted[version] = fitted
        return dm

    def get(self, alias: str) -> DigitModel:
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

    def get_version(self, version: str) -> DigitModel:
        """A registered version by its number, loaded once (shares the fitted pipeline with any
        alias serving it). Kept until ``retain_versions`` no longer lists it."""
        version = str(version)
        model = self._by_version.get(version)
        if model is not None:
            return model
        with self._alias_lock(f"version:{version}"):
            model = self._by_version.get(version)
            if model is None:
                try:
                    mv = self._client.get_model_version(self.model_name, version)
                except MlflowException as exc:
                    if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                        raise ModelNotFound(f"no model version {version!r}") from None
                    raise ModelUnavailable(f"model registry unavailable: {exc.message}") from exc
                model = self._load(None, mv)
                self._by_version[version] = model
        return model

    def retain_versions(self, keep: set[str]) -> None:
        """Forget the by-number versions not in ``keep`` (their pipelines too, unless served)."""
        with self._lock:
            for version in [v for v in self._by_version if v not in keep]:
                self._by_version.pop(version, None)
            self._prune()

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
        live = {m.version for m in self._models.values()} | set(self._by_version)
        for version in [v for v in self._fitted if v not in live]:
            self._fitted.pop(version, None)

    def served(self) -> dict[str, str]:
        """{alias: version} currently cached and served by this process."""
        return {alias: m.version for alias, m in self._models.items() if m.version is not None}

    def aliases(self) -> dict[str, str]:
        """{alias: version} as known by the registry right now."""
        try:
            return registry.registry_aliases(self._client, self.model_name)
        except MlflowException as exc:
            raise ModelUnavailable(f"model registry unavailable: {exc.message}") from exc

    def versions(self) -> list[dict[str, Any]]:
        """Registered versions, newest first, with their public aliases."""
        try:
            found = self._client.search_model_versions(f"name='{self.model_name}'")
            by_version: dict[str, list[str]] = {}
            # search_model_versions leaves ModelVersion.aliases empty: ask the model.
            for alias, version in registry.registry_aliases(self._client, self.model_name).items():
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
