"""The statistics of drift monitoring, free of Flask and of the database: the image
representation, the MMD permutation test, the class-distribution chi-square test and the
confidence calibration behind the estimated accuracy (CBPE).

Everything is vectorised numpy: one window of 500 images against a reference of 500 costs one
1000x1000 kernel and one (1000 x perms) matrix product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2_contingency
from sklearn.isotonic import IsotonicRegression

from app.ml.codec import IMAGE_SIDE

POOL = 4  # 28x28 -> 7x7 mean-pooled ink: keeps shape and position, drops stroke-level noise


def pooled(images: np.ndarray, pool: int = POOL) -> np.ndarray:
    """(n, 784) images in [0, 1] -> (n, (28/pool)^2) float64 block means."""
    side = IMAGE_SIDE // pool
    a = np.asarray(images, dtype=np.float64).reshape(-1, side, pool, side, pool)
    return a.mean(axis=(2, 4)).reshape(len(a), side * side)


@dataclass(frozen=True)
class TestResult:
    statistic: float
    p_value: float


def _sq_distances(Z: np.ndarray) -> np.ndarray:
    sq = (Z * Z).sum(axis=1)
    return np.maximum(sq[:, None] + sq[None, :] - 2.0 * (Z @ Z.T), 0.0)


def mmd_permutation_test(
    X: np.ndarray, Y: np.ndarray, *, permutations: int = 500, seed: int = 0
) -> TestResult:
    """Biased MMD^2 between samples X and Y with an RBF kernel (bandwidth: the median squared
    distance of the pooled sample), and its permutation p-value.

    The statistic is w'Kw with w = +1/m on X's rows and -1/k on Y's; each permutation shuffles
    w, so all permutations are one matrix product K @ W."""
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    m, k = len(X), len(Y)
    if m < 2 or k < 2:
        raise ValueError("each sample needs at least 2 rows")
    D = _sq_distances(np.concatenate([X, Y]))
    off_diagonal = D[~np.eye(m + k, dtype=bool)]
    bandwidth = float(np.median(off_diagonal)) or float(off_diagonal.mean()) or 1.0
    K = np.exp(-D / bandwidth)
    w = np.concatenate([np.full(m, 1.0 / m), np.full(k, -1.0 / k)])
    observed = float(w @ K @ w)
    rng = np.random.default_rng(seed)
    W = rng.permuted(np.tile(w, (permutations, 1)), axis=1).T  # (m+k, permutations)
    null = np.einsum("ip,ip->p", W, K @ W)
    # >= with a small tolerance: ties (e.g. identical samples) must count against drift.
    exceed = int(np.count_nonzero(null >= observed - 1e-12))
    return TestResult(observed, (1 + exceed) / (1 + permutations))


def class_chi2_test(window_counts: np.ndarray, reference_counts: np.ndarray) -> TestResult:
    """Chi-square test of homogeneity of the predicted-class counts of the window and of the
    reference (a 2 x classes table; classes neither predicts are left out)."""
    table = np.vstack([window_counts, reference_counts]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or table[0].sum() == 0 or table[1].sum() == 0:
        return TestResult(0.0, 1.0)  # one class only on both sides: nothing to compare
    statistic, p_value, _, _ = chi2_contingency(table, correction=False)
    return TestResult(float(statistic), float(p_value))


class ConfidenceCalibrator:
    """Maps a model's max-probability to the probability that its answer is right, fitted by
    isotonic regression on a labelled set (the calibration step of CBPE)."""

    def __init__(self, confidence: np.ndarray, correct: np.ndarray) -> None:
        self._iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        self._iso.fit(np.asarray(confidence, np.float64), np.asarray(correct, np.float64))

    def calibrate(self, confidence: np.ndarray) -> np.ndarray:
        return np.asarray(self._iso.predict(np.asarray(confidence, np.float64)), np.float64)

    def estimated_accuracy(self, confidence: np.ndarray) -> float | None:
        """The mean calibrated confidence: the expected accuracy on these predictions."""
        if len(confidence) == 0:
            return None
        return float(self.calibrate(confidence).mean())
