"""The runtime model (MLServer-style): one loaded version that predicts
class probabilities for a batch of 28x28 images."""

from __future__ import annotations

from typing import Any

import numpy as np

from app.ml import ood
from app.ml.codec import as_batch
from app.ml.families import N_CLASSES, family_of
from app.ml.fastpath import compile_proba


class DigitModel:
    """Runtime wrapper around one model version (MLServer-style load/predict).

    ``DigitModel("models:/digit-classifier/3")`` or ``DigitModel(fitted)``.
    Loading the MLflow artifact needs ``app.ml.features`` importable.
    """

    def __init__(
        self,
        model_uri_or_loaded: str | Any,
        *,
        alias: str | None = None,
        version: str | None = None,
        run_id: str | None = None,
        family: str | None = None,
    ) -> None:
        if isinstance(model_uri_or_loaded, str):
            self.uri: str | None = model_uri_or_loaded
            self._model: Any = None
        else:
            self.uri = None
            self._model = model_uri_or_loaded
        self.alias = alias
        self.version = version
        self.run_id = run_id
        self.family = family or (family_of(self._model) if self._model is not None else None)

    @property
    def model(self) -> Any:
        if self._model is None:
            raise RuntimeError("model not loaded; call load() first")
        return self._model

    def load(self) -> DigitModel:
        if self._model is None:
            from app.ml.artifact import load_sklearn_model

            self._model = load_sklearn_model(self.uri)
            self.family = self.family or family_of(self._model)
        classes = np.asarray(getattr(self._model, "classes_", np.arange(N_CLASSES)))
        # predict_proba columns follow classes_; remember how to map to 0..9.
        self._cols = None if np.array_equal(classes, np.arange(N_CLASSES)) else classes.astype(int)
        # The same probabilities without scikit-learn's per-call validation (checked, or None).
        self._fast = compile_proba(self._model)
        # Load (or, with no fitted file, fit) the detector shared by every version before the first
        # request needs it (app/ml/ood_cache.py).
        self._ood = ood.detector()
        return self

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        """(n, 10) float probabilities for a batch of 28x28 images."""
        if not hasattr(self, "_cols"):
            self.load()
        X = as_batch(batch)
        proba = self._fast(X) if self._fast is not None else self.model.predict_proba(X)
        if self._cols is None:
            return proba
        out = np.zeros((proba.shape[0], N_CLASSES), dtype=proba.dtype)
        out[:, self._cols] = proba
        return out

    def ood_scores(self, batch: np.ndarray) -> np.ndarray:
        """(n,) out-of-distribution scores (app/ml/ood.py); above the threshold: not a digit."""
        if not hasattr(self, "_ood"):
            self.load()
        return self._ood.score(as_batch(batch))

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.predict_proba(batch).argmax(axis=1)

    def __repr__(self) -> str:
        return f"DigitModel(alias={self.alias!r}, version={self.version!r}, family={self.family!r})"
