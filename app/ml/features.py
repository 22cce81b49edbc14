"""Feature transformers used inside the logged sklearn Pipelines.

Kept in their own small module (numpy/scipy/sklearn only) because a model
loaded from MLflow must import them: ``app.ml.features`` has to be importable
(project root on ``sys.path``) wherever a model is deserialised.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from sklearn.base import BaseEstimator, TransformerMixin

from app.ml.codec import IMAGE_SIDE as SIDE


def _as_images(X: np.ndarray) -> np.ndarray:
    return np.asarray(X, dtype=np.float32).reshape(-1, SIDE, SIDE)


class Deskew(TransformerMixin, BaseEstimator):
    """Moments-based deskew: shear each image horizontally so its principal
    axis is vertical. Removes slant, the main nuisance variation in MNIST."""

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> Deskew:
        self.n_features_in_ = SIDE * SIDE
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        imgs = _as_images(X)
        n = imgs.shape[0]
        ys, xs = np.mgrid[:SIDE, :SIDE].astype(np.float32)
        mass = imgs.sum(axis=(1, 2)) + 1e-6
        cy = (imgs * ys).sum(axis=(1, 2)) / mass
        cx = (imgs * xs).sum(axis=(1, 2)) / mass
        dy = ys[None] - cy[:, None, None]
        var_y = (imgs * dy**2).sum(axis=(1, 2)) / mass
        cov = (imgs * dy * (xs[None] - cx[:, None, None])).sum(axis=(1, 2)) / mass
        alpha = cov / np.maximum(var_y, 1e-6)
        # Output pixel (y, x) samples the input at (y, x + alpha * (y - cy)).
        src_x = xs[None] + alpha[:, None, None] * dy
        src_y = np.broadcast_to(ys, (n, SIDE, SIDE))
        idx = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None], (n, SIDE, SIDE))
        out = ndimage.map_coordinates(imgs, [idx, src_y, src_x], order=1, mode="constant")
        return out.reshape(n, SIDE * SIDE)

    def __sklearn_is_fitted__(self) -> bool:
        return True


class HogFeatures(TransformerMixin, BaseEstimator):
    """HOG-like features: gradient magnitude split into ``bins`` signed
    orientation channels (linear soft binning), each pooled by a Gaussian
    window (``sigma``) on a grid every ``stride`` pixels, then sqrt-compressed.

    The pooling is a separable matrix product (G @ channel @ G.T), so a single
    image costs a few small matmuls instead of a full image filter.
    """

    def __init__(self, bins: int = 8, sigma: float = 2.0, stride: int = 3) -> None:
        self.bins = bins
        self.sigma = sigma
        self.stride = stride

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> HogFeatures:
        centres = np.arange(self.stride // 2, SIDE, self.stride, dtype=np.float32)
        pix = np.arange(SIDE, dtype=np.float32)
        self.pool_ = np.exp(-0.5 * ((pix[None] - centres[:, None]) / self.sigma) ** 2).astype(np.float32)
        self.n_features_in_ = SIDE * SIDE
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        imgs = _as_images(X)
        gy = np.zeros_like(imgs)
        gx = np.zeros_like(imgs)
        gy[:, 1:-1] = imgs[:, 2:] - imgs[:, :-2]
        gx[:, :, 1:-1] = imgs[:, :, 2:] - imgs[:, :, :-2]
        mag = np.hypot(gx, gy)
        pos = (np.arctan2(gy, gx) % (2 * np.pi)) * (self.bins / (2 * np.pi))
        lo = np.floor(pos)
        frac = pos - lo
        lo = lo.astype(np.int64) % self.bins
        hi = (lo + 1) % self.bins
        w_lo = mag * (1 - frac)
        w_hi = mag * frac
        chans = np.empty((imgs.shape[0], self.bins, SIDE, SIDE), dtype=np.float32)
        for b in range(self.bins):
            chans[:, b] = np.where(lo == b, w_lo, 0.0) + np.where(hi == b, w_hi, 0.0)
        pooled = self.pool_ @ chans @ self.pool_.T  # (n, bins, o, o)
        return np.sqrt(pooled.reshape(imgs.shape[0], -1))
