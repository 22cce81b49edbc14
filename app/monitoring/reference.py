"""The reference a model version is judged against, computed once per version and process.

The reference set is labelled and held out from training: MNIST's fixed holdout plus one half
(even indices) of the real-world evaluation set. The other half (odd indices) is never part of
it, so it can stand for unshifted traffic (docs/monitoring.md, tests/test_monitoring.py).

The model scores the set once; from that come the drift reference (a fixed sample of its
probability vectors), the predicted-class counts, and the calibrator of its confidence.
Training images are not used: a model is over-confident on what it was fitted on, and real
traffic looks like the real-world set, not like MNIST alone (measured: docs/monitoring.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from app.ml import data, realworld
from app.ml.families import N_CLASSES
from app.ml.runtime import DigitModel
from app.monitoring.stats import ConfidenceCalibrator

REFERENCE_SEED = 1


@dataclass(frozen=True)
class Reference:
    probabilities: np.ndarray  # (size, 10): the MMD test's reference sample
    class_counts: np.ndarray  # (10,) predicted classes over the whole reference set
    calibrator: ConfidenceCalibrator
    accuracy: float  # the model's accuracy on the reference set
    n: int  # images in the reference set


def realworld_halves() -> tuple[np.ndarray, np.ndarray]:
    """Indices of the real-world set: (in the reference, never in it)."""
    n = len(realworld.load().y)
    idx = np.arange(n)
    return idx[idx % 2 == 0], idx[idx % 2 == 1]


@lru_cache(maxsize=1)
def reference_images() -> tuple[np.ndarray, np.ndarray]:
    """(X (n, 784), y) of the reference set."""
    X_ho, y_ho = data.load_holdout()
    X_rw, y_rw, _ = realworld.preprocessed()
    half, _ = realworld_halves()
    return np.concatenate([X_ho, X_rw[half]]), np.concatenate([y_ho, y_rw[half]])


def build_reference(model: DigitModel, size: int) -> Reference:
    X, y = reference_images()
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    predicted = proba.argmax(axis=1)
    correct = predicted == y
    rng = np.random.default_rng(REFERENCE_SEED)
    sample = proba[rng.choice(len(proba), min(size, len(proba)), replace=False)]
    return Reference(
        probabilities=sample,
        class_counts=np.bincount(predicted, minlength=N_CLASSES),
        calibrator=ConfidenceCalibrator(proba.max(axis=1), correct),
        accuracy=float(correct.mean()),
        n=len(y),
    )


_cache: dict[tuple[str | None, str | None, int], Reference] = {}
_lock = threading.Lock()


def reference_for(model: DigitModel, size: int) -> Reference:
    """The cached reference of a loaded version (keyed by its MLflow run, unique across
    registries). Computed under a lock: concurrent first requests score the set once."""
    key = (model.run_id, model.version, size)
    found = _cache.get(key)
    if found is not None:
        return found
    with _lock:
        found = _cache.get(key)
        if found is None:
            if len(_cache) >= 16:  # a few versions per alias at most; drop the oldest
                _cache.pop(next(iter(_cache)))
            found = _cache[key] = build_reference(model, size)
    return found
