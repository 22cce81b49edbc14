"""The image shapes of the whole service and the stored-image codec.

Every model takes (n, N_PIXELS) float32 in [0, 1]; a prediction stores its
preprocessed image as N_PIXELS uint8 bytes, so retraining sees exactly what was
served. The sizes are defined here once.
"""

from __future__ import annotations

import numpy as np

IMAGE_SIDE = 28
N_PIXELS = IMAGE_SIDE * IMAGE_SIDE


def image_to_bytes(image: np.ndarray) -> bytes:
    """A (28, 28) float image in [0, 1] -> its N_PIXELS stored uint8 bytes."""
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8).tobytes()


def image_from_bytes(raw: bytes) -> np.ndarray:
    """Inverse of ``image_to_bytes``: a (28, 28) float32 image in [0, 1]."""
    return np.frombuffer(raw, dtype=np.uint8).reshape(IMAGE_SIDE, IMAGE_SIDE).astype(np.float32) / 255.0


def as_batch(batch: np.ndarray) -> np.ndarray:
    """(28,28), (784,), (n,28,28) or (n,784) -> contiguous (n, 784) float32."""
    a = np.asarray(batch, dtype=np.float32)
    if a.ndim in (1, 2) and a.size == N_PIXELS:
        a = a.reshape(1, N_PIXELS)
    elif a.ndim == 3 and a.shape[1:] == (IMAGE_SIDE, IMAGE_SIDE):
        a = a.reshape(-1, N_PIXELS)
    elif not (a.ndim == 2 and a.shape[1] == N_PIXELS):
        raise ValueError(f"expected (n, 28, 28) or (n, 784), got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("input contains NaN or infinity")
    return np.ascontiguousarray(a)
