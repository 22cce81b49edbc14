"""A cheaper predict_proba for the served pipelines, checked against scikit-learn at load.

On one image, ``Pipeline.predict_proba`` spends more time validating its input (feature names,
finiteness, dtype, dataframe detection at every step) than computing: ~0.4 ms here against
~0.18 ms for the same arithmetic called directly. For a pipeline ending in StandardScaler ->
multinomial LogisticRegression, the scaler folds into the classifier's weights, so the tail is one
matrix product and a softmax; the steps before it are called through their own ``transform``.

The fast form is used only if it reproduces the pipeline's own probabilities on probe images at
load (max difference ≤ 1e-5: float32 rounding); any other model, or any mismatch, keeps scikit-learn's path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from app.ml.codec import N_PIXELS

TOLERANCE = 1e-5  # scikit-learn computes in float32 here, this in float64

Proba = Callable[[np.ndarray], np.ndarray]


def _softmax_head(scaler: StandardScaler | None, clf: LogisticRegression) -> Proba | None:
    coef = np.asarray(clf.coef_, dtype=np.float64)
    intercept = np.asarray(clf.intercept_, dtype=np.float64)
    if coef.shape[0] < 3:  # binary logistic regression: not a 10-class softmax
        return None
    if scaler is not None:
        scale = np.asarray(scaler.scale_ if scaler.scale_ is not None else 1.0, dtype=np.float64)
        mean = np.asarray(scaler.mean_ if scaler.mean_ is not None else 0.0, dtype=np.float64)
        coef = coef / scale
        intercept = intercept - (np.broadcast_to(mean, coef.shape[1:]) * coef).sum(axis=1)
    weights = np.ascontiguousarray(coef.T)

    def head(features: np.ndarray) -> np.ndarray:
        z = features @ weights + intercept
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z

    return head


def _compile(model: Any) -> Proba | None:
    steps = [step for _, step in getattr(model, "steps", [])]
    if not steps or not isinstance(steps[-1], LogisticRegression):
        return None
    clf, rest = steps[-1], steps[:-1]
    scaler = None
    if rest and isinstance(rest[-1], StandardScaler):
        scaler, rest = rest[-1], rest[:-1]
    if any(step is None or step == "passthrough" or not hasattr(step, "transform") for step in rest):
        return None
    head = _softmax_head(scaler, clf)
    if head is None:
        return None

    def proba(X: np.ndarray) -> np.ndarray:
        for step in rest:
            X = step.transform(X)
        return head(np.asarray(X, dtype=np.float64))

    return proba


def _probes() -> np.ndarray:
    rng = np.random.default_rng(0)
    probes = rng.random((6, N_PIXELS), dtype=np.float32)
    probes[0] = 0.0
    probes[1] = 1.0
    probes[2] *= probes[2] > 0.7  # sparse strokes, like a digit
    return probes


def compile_proba(model: Any) -> Proba | None:
    """The fast predict_proba for `model`, or None when scikit-learn's own must be used."""
    try:
        fast = _compile(model)
        if fast is None:
            return None
        probes = _probes()
        expected = np.asarray(model.predict_proba(probes), dtype=np.float64)
        got = fast(probes)
    except Exception:  # noqa: BLE001 - an unexpected model shape: scikit-learn's path serves it
        return None
    if got.shape != expected.shape or not np.all(np.abs(got - expected) <= TOLERANCE):
        return None
    return fast
