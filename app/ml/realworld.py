"""The real-world evaluation set: digits from sources the models never train
on (other fonts, canvas-style strokes) with the degradations of real uploads,
stored as the encoded PNG/JPEG bytes a user would send (see ``app.ml.synth``,
which generated ``assets/realworld_eval.npz``).

Every image goes through the same path as a served upload
(``preprocess_image`` on the bytes), then the model; accuracy is reported
overall and per ``kind`` of degradation.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from app.ml.codec import N_PIXELS
from app.ml.errors import ImageError
from app.ml.preprocess import preprocess_image
from app.ml.synth import EVAL_PATH


@dataclass(frozen=True)
class RealWorldSet:
    blobs: tuple[bytes, ...]  # encoded uploads
    y: np.ndarray  # (n,) int64 labels
    kinds: np.ndarray  # (n,) index into kind_names
    kind_names: tuple[str, ...]


@lru_cache(maxsize=1)
def load() -> RealWorldSet:
    with np.load(EVAL_PATH, allow_pickle=False) as z:
        data, offsets = z["data"], z["offsets"]
        blobs = tuple(data[offsets[i] : offsets[i + 1]].tobytes() for i in range(len(offsets) - 1))
        return RealWorldSet(
            blobs,
            z["labels"].astype(np.int64),
            z["kinds"].astype(np.int64),
            tuple(str(k) for k in z["kind_names"]),
        )


def preprocessed() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X (n, 784), y, kinds) after the served preprocessing. An image the
    preprocessing rejects (no ink found) stays a blank row: it counts as wrong
    unless a model happens to say the right digit for nothing."""
    return _preprocessed_cached()


@lru_cache(maxsize=1)
def _preprocessed_cached() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = load()
    X = np.zeros((len(s.blobs), N_PIXELS), np.float32)
    for i, blob in enumerate(s.blobs):
        try:
            X[i] = preprocess_image(blob).ravel()
        except ImageError:
            pass
    for a in (X, s.y, s.kinds):
        a.setflags(write=False)
    return X, s.y, s.kinds


def evaluate(model: Any) -> dict[str, Any]:
    """Accuracy of ``model`` (anything with ``predict`` on (n, 784)) overall
    and per kind: {"n", "accuracy", "per_kind": {kind: accuracy}, "min_kind"}."""
    X, y, kinds = preprocessed()
    pred = np.asarray(model.predict(X), dtype=np.int64)
    right = pred == y
    names = load().kind_names
    per_kind = {name: float(right[kinds == k].mean()) for k, name in enumerate(names)}
    return {
        "n": int(len(y)),
        "accuracy": float(right.mean()),
        "per_kind": per_kind,
        "min_kind": min(per_kind.values()),
    }


def metrics(result: dict[str, Any], prefix: str = "realworld") -> dict[str, float]:
    """Flat MLflow metrics of an ``evaluate`` result."""
    out = {f"{prefix}_accuracy": result["accuracy"], f"{prefix}_min_kind_accuracy": result["min_kind"]}
    out.update({f"{prefix}_{kind}_accuracy": acc for kind, acc in result["per_kind"].items()})
    return out
