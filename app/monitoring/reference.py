"""The reference a model version is judged against, computed once per version and process.

Two labelled sets, both held out from training:

* the drift reference: a seeded random half of the real-world evaluation set, i.e. what normal
  traffic looks like. The other half is never part of it, so it can stand for unshifted traffic
  (docs/monitoring.md, tests/test_monitoring.py). MNIST is left out on purpose: against MNIST
  (or MNIST + synthetic) references, unshifted real-world windows alarmed every time on pixels
  and up to 90 % of the time on v1's probabilities (measured in docs/monitoring.md);
* the calibration set: MNIST's fixed holdout plus the same real-world half: more mistakes to
  learn the confidence -> accuracy map from than either alone.

Training images are used for neither: a model is over-confident on what it was fitted on.
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
    probabilities: np.ndarray  # (size, 10): the MMD test's sample of the drift reference
    class_counts: np.ndarray  # (10,) predicted classes over the whole drift reference
    calibrator: ConfidenceCalibrator  # fitted on the calibration set
    accuracy: float  # the model's accuracy on the drift reference
    n: int  # images in the drift reference


def realworld_halves() -> tuple[np.ndarray, np.ndarray]:
    """Indices of the real-world set: (in the reference, never in it), a seeded random halving.
    Not by parity: the set is stored in blocks of 15 per (kind, digit) whose printed and drawn
    sources alternate, so even and odd indices differ (measured: docs/monitoring.md)."""
    n = len(realworld.load().y)
    order = np.random.default_rng(REFERENCE_SEED).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2 :])


def reference_images() -> tuple[np.ndarray, np.ndarray]:
    """(X (n, 784), y) of the drift reference: the real-world set's reference half."""
    X_rw, y_rw, _ = realworld.preprocessed()
    half, _ = realworld_halves()
    return X_rw[half], y_rw[half]


@lru_cache(maxsize=1)
def calibration_images() -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of the calibration set: MNIST's holdout, then the drift reference."""
    X_ho, y_ho = data.load_holdout()
    X_ref, y_ref = reference_images()
    return np.concatenate([X_ho, X_ref]), np.concatenate([y_ho, y_ref])


def build_reference(model: DigitModel, size: int) -> Reference:
    X, y = calibration_images()
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    correct = proba.argmax(axis=1) == y
    drift = proba[len(y) - len(reference_images()[1]) :]  # the drift reference comes last
    predicted = drift.argmax(axis=1)
    rng = np.random.default_rng(REFERENCE_SEED)
    return Reference(
        probabilities=drift[rng.choice(len(drift), min(size, len(drift)), replace=False)],
        class_counts=np.bincount(predicted, minlength=N_CLASSES),
        calibrator=ConfidenceCalibrator(proba.max(axis=1), correct),
        accuracy=float(correct[len(y) - len(drift) :].mean()),
        n=len(drift),
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
