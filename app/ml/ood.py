"""Out-of-distribution score: how far a preprocessed 28x28 image is from every digit class.

Chosen by measurement (``python -m bench.ood_eval``, table in bench/results/ood.md): the largest of
three signals, all on gradient-orientation features (8 directions pooled on a 7x7 grid):

* distance: Mahalanobis distance (one covariance shared by the classes) to the nearest of a few
  k-means centres of each digit class, on 20 principal components of the gradient features, the
  distance off those components, and four stroke statistics (inked area, solid area, soft-edge
  share, stroke crossings per row). The statistics catch blobs and specks, which the gradient
  features alone see as a blurred "0".
* doubt: DOUBT_WEIGHT x (1 - top class probability) of a linear classifier the detector fits
  itself. Smudges sit between classes rather than far from all of them.
* letters (outlier exposure): the log-odds "not a digit" of a second-opinion classifier over the
  ten digits plus hand-drawn letters, random strokes and blots (``synth.handletters``, fitted
  here, never a font and never the evaluation generators), on OE_COMPONENTS principal components
  of the gradient features, shifted by OE_SHIFT. It sees letters (a e t f y r T C ...) that are
  neither far from every digit nor between two (other letters flagged 66 % -> 95 %).

The detector does not depend on the model version: it is fitted once (then loaded by every
process from a file, ``ood_cache``) on the bundled training images (MNIST training split +
synthetic uploads; never the holdout or the real-world set, and the hand-drawn images drawn from a
fixed seed: deterministic), so one calibrated threshold serves every version. Fitting takes ~3 s
(`flask models bootstrap`, or the first model load where no fitted file exists);
scoring is a few vectorised array operations per batch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from app.ml import ood_cache
from app.ml.codec import IMAGE_SIDE as SIDE
from app.ml.data import training_set

N_COMPONENTS = 20
N_MODES = 10  # k-means centres per class
# The detector's own linear classifier on the gradient features (not the served model's, so one
# threshold serves every version): its doubt (1 - top probability) times DOUBT_WEIGHT competes
# with the distance. Both chosen on the "dev" non-digits (bench/ood_eval.py).
CLF_C = 0.03
DOUBT_WEIGHT = 12.0
# Outlier exposure (chosen on the dev letters, dev kinds and the digits, bench/ood_eval.py):
# hand-drawn images per fit (drawn digits too, so "drawn by this brush" is no cue), the
# classifier's components and strength, and the shift that puts its log-odds on the distance's
# scale: 6.35 (the threshold of the two other signals) minus its own calibrated quantile, so
# alone it would flag as few digits as they do.
OE_LETTERS, OE_RANDOM, OE_DIGITS, OE_BLOTS = 2000, 500, 1000, 300
OE_RANDOM_WEIGHT = 0.5  # random strokes are a vaguer class than letters
OE_COMPONENTS = 60
OE_C = 0.1
OE_SHIFT = 7.74
# Calibrated by bench/ood_eval.py: the larger of the 98th percentiles of the scores of half the
# real-world set and half the MNIST holdout (on the other halves it flags ~1.1 % of the
# real-world digits and ~3.2 % of MNIST's handwritten ones).
DEFAULT_THRESHOLD = 6.84


# Gaussian pooling windows (sigma 2.5 px) centred every 4 px: a 7x7 grid over the 28x28 field.
_CENTRES = np.arange(2, SIDE, 4, dtype=np.float32)
_POOL = np.exp(-0.5 * ((np.arange(SIDE, dtype=np.float32)[None] - _CENTRES[:, None]) / 2.5) ** 2).T
_DIAG = np.float32(np.sqrt(0.5))


def gradient_features(X: np.ndarray) -> np.ndarray:
    """(n, 392): gradient energy in 8 directions (rectified projections, no arctan), pooled.

    A cheaper cousin of ``features.HogFeatures`` (which costs ~0.1-0.3 ms an image): two
    differences, four projections and two matrix products over the whole batch."""
    imgs = np.asarray(X, dtype=np.float32).reshape(-1, SIDE, SIDE)
    n = imgs.shape[0]
    proj = np.zeros((n, 4, SIDE, SIDE), dtype=np.float32)
    proj[:, 0, :, 1:-1] = imgs[:, :, 2:] - imgs[:, :, :-2]  # d/dx
    proj[:, 1, 1:-1] = imgs[:, 2:] - imgs[:, :-2]  # d/dy
    proj[:, 2] = (proj[:, 0] + proj[:, 1]) * _DIAG
    proj[:, 3] = (proj[:, 0] - proj[:, 1]) * _DIAG
    chans = np.concatenate([np.maximum(proj, 0.0), np.maximum(-proj, 0.0)], axis=1)  # (n, 8, 28, 28)
    cols = chans.reshape(-1, SIDE) @ _POOL  # pool x: (n*8*28, 7)
    cols = cols.reshape(n * 8, SIDE, -1).transpose(0, 2, 1).reshape(-1, SIDE) @ _POOL  # pool y
    return np.sqrt(cols.reshape(n, -1))


def stroke_stats(X: np.ndarray) -> np.ndarray:
    """(n, 4): inked area, solid area (both /100 px), soft-edge share, crossings per inked row."""
    imgs = np.asarray(X, dtype=np.float32).reshape(-1, SIDE, SIDE)
    ink = (imgs > 0.1).sum(axis=(1, 2))
    solid = (imgs > 0.6).sum(axis=(1, 2))
    soft = 1.0 - solid / np.maximum(ink, 1)
    on = (imgs > 0.4).astype(np.int8)
    crossings = np.abs(np.diff(on, axis=2)).sum(axis=(1, 2))
    rows = np.maximum(on.any(axis=2).sum(axis=1), 1)
    return np.stack([ink / 100.0, solid / 100.0, soft, crossings / rows], axis=1).astype(np.float32)


def _view(X: np.ndarray, grads: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """(n, N_COMPONENTS + 5): gradient principal components, distance off them, stroke stats."""
    centred = grads - mean
    pcs = centred @ components.T
    # Distance off the principal subspace: what the 20 components cannot express (measured:
    # letters, shapes and scribbles flagged more often at the same digit flag rate).
    resid = np.sqrt(np.maximum((centred * centred).sum(axis=1) - (pcs * pcs).sum(axis=1), 0.0))
    return np.hstack([pcs, resid[:, None], stroke_stats(X)])


@dataclass(frozen=True)
class OodDetector:
    """Fitted parameters; ``score`` maps (n, 784) images to (n,) scores (0 = typical digit)."""

    mean: np.ndarray  # gradient feature mean (PCA centring)
    components: np.ndarray  # (N_COMPONENTS, n_grad) principal axes
    whiten: np.ndarray  # (d, d): x @ whiten has identity covariance within classes
    centres: np.ndarray  # (10 * N_MODES, d) k-means centres of each class, already whitened
    clf_scale: np.ndarray  # (n_grad,) 1 / standard deviation of the gradient features
    clf_coef: np.ndarray  # (n_grad, 10) logistic regression on the standardised gradient features
    clf_intercept: np.ndarray  # (10,)
    oe_axes: np.ndarray  # (n_grad, OE_COMPONENTS) principal axes of digits + hand-drawn negatives
    oe_mean: np.ndarray  # (OE_COMPONENTS,) centring, then oe_scale: unit variance
    oe_scale: np.ndarray
    oe_coef: np.ndarray  # (OE_COMPONENTS, 10 + k): ten digit classes, then k non-digit classes
    oe_intercept: np.ndarray  # (10 + k,)

    def features(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32).reshape(-1, SIDE * SIDE)
        return _view(X, gradient_features(X), self.mean, self.components)

    def distance(self, X: np.ndarray, grads: np.ndarray) -> np.ndarray:
        """(n,) Mahalanobis distance to the nearest class centre."""
        z = _view(X, grads, self.mean, self.components) @ self.whiten
        # Squared distances to every class centre in one matrix product.
        d2 = (z * z).sum(axis=1)[:, None] - 2.0 * z @ self.centres.T + (self.centres**2).sum(axis=1)[None]
        return np.sqrt(np.maximum(d2.min(axis=1), 0.0))

    def doubt(self, grads: np.ndarray) -> np.ndarray:
        """(n,) 1 - the largest class probability of the detector's own linear classifier."""
        logits = ((grads - self.mean) * self.clf_scale) @ self.clf_coef + self.clf_intercept
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return 1.0 - 1.0 / e.sum(axis=1)

    def letters(self, grads: np.ndarray) -> np.ndarray:
        """(n,) log-odds that an image is one of the fitted non-digit classes, not a digit."""
        logits = ((grads @ self.oe_axes - self.oe_mean) * self.oe_scale) @ self.oe_coef + self.oe_intercept
        return _logsumexp(logits[:, 10:]) - _logsumexp(logits[:, :10])

    def score(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32).reshape(-1, SIDE * SIDE)
        grads = gradient_features(X)
        # Far from every digit, between classes (smudges, scribbles), or nearer a letter than a digit.
        far_or_between = np.maximum(self.distance(X, grads), DOUBT_WEIGHT * self.doubt(grads))
        return np.maximum(far_or_between, self.letters(grads) + OE_SHIFT)


def _logsumexp(a: np.ndarray) -> np.ndarray:
    top = a.max(axis=1)
    return top + np.log(np.exp(a - top[:, None]).sum(axis=1))


def _principal_axes(H: np.ndarray, k: int = N_COMPONENTS) -> np.ndarray:
    """(k, n_grad) principal axes."""
    # Eigenvectors of the feature covariance (deterministic; a 392x392 eigh is far cheaper than
    # an SVD of the whole matrix), largest first, sign fixed.
    with threadpool_limits(limits=1, user_api="blas"):
        _, vecs = np.linalg.eigh(np.cov(H, rowvar=False))
    components = vecs[:, ::-1][:, :k].T
    components *= np.sign(components[np.arange(k), np.abs(components).argmax(axis=1)])[:, None]
    return components


def _whitening(F: np.ndarray, y: np.ndarray) -> np.ndarray:
    classes = np.unique(y)
    centres = np.stack([F[y == c].mean(axis=0) for c in classes])
    resid = F - centres[np.searchsorted(classes, y)]
    cov = resid.T @ resid / len(F)
    cov += 1e-6 * np.trace(cov) / len(cov) * np.eye(len(cov))  # keeps it invertible
    # cov^-1 = W W^T with W = inverse Cholesky factor transposed.
    return np.linalg.inv(np.linalg.cholesky(cov)).T


def _modes(Z: np.ndarray, y: np.ndarray) -> np.ndarray:
    # Each class is several styles (a 7 with or without a bar, printed or handwritten 1s): a few
    # k-means centres per class, in the whitened space, instead of one mean (measured: shapes
    # 74 -> 86 %, scribbles 55 -> 71 % flagged at the same digit flag rate).
    from sklearn.cluster import KMeans  # fitting only: serving processes load the fit (ood_cache)

    with threadpool_limits(limits=1):
        return np.vstack(
            [KMeans(N_MODES, n_init=3, random_state=0).fit(Z[y == c]).cluster_centers_ for c in np.unique(y)]
        )


def _classifier(H: np.ndarray, y: np.ndarray, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scale = 1.0 / np.maximum(H.std(axis=0), 1e-6)
    with threadpool_limits(limits=1):
        clf = LogisticRegression(C=CLF_C, max_iter=300).fit((H - mean) * scale, y)
    return scale, clf.coef_.T, clf.intercept_


def _outlier_exposure(H: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """A classifier over the ten digits (H, y, w: the training images' gradient features, labels,
    weights) plus hand-drawn letters and random strokes: (axes, mean, scale, coef, intercept)."""
    # Imported here: drawing needs PIL, which scoring does not.
    from app.ml.synth import handletters

    Xn, yn = handletters.make(OE_LETTERS, OE_RANDOM, OE_DIGITS, OE_BLOTS)
    Hn = gradient_features(Xn).astype(np.float64)
    weight = np.r_[w, np.where(yn < 0, OE_RANDOM_WEIGHT, 1.0)]
    yn = np.where(yn < 0, 9 + len(handletters.TEMPLATES) - yn, yn)  # random strokes, blots: 2 more classes
    Hall = np.vstack([H, Hn])
    axes = _principal_axes(Hall, OE_COMPONENTS).T
    P = Hall @ axes
    mean, scale = P.mean(axis=0), 1.0 / np.maximum(P.std(axis=0), 1e-6)
    with threadpool_limits(limits=1):
        clf = LogisticRegression(C=OE_C, max_iter=300)
        clf.fit((P - mean) * scale, np.r_[y, yn], sample_weight=weight)
    return axes, mean, scale, clf.coef_.T, clf.intercept_


def fit(X: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> OodDetector:
    """Fit on digit images X (n, 784) with labels y (all ten classes) and optional per-image
    weights (the training set's: synthetic uploads count less; used by the letters term)."""
    X = np.asarray(X, dtype=np.float32).reshape(-1, SIDE * SIDE)
    y = np.asarray(y, dtype=np.int64)
    H = gradient_features(X).astype(np.float64)
    mean = H.mean(axis=0)
    components = _principal_axes(H)
    F = _view(X, H, mean, components)
    whiten = _whitening(F, y)
    centres = _modes(F @ whiten, y)
    scale, coef, intercept = _classifier(H, y, mean)
    oe = _outlier_exposure(H, y, np.ones(len(y)) if weight is None else np.asarray(weight, np.float64))
    f32 = np.float32
    return OodDetector(
        *(np.asarray(a, dtype=f32) for a in (mean, components, whiten, centres, scale, coef, intercept, *oe))
    )


_lock = threading.Lock()
_detector: OodDetector | None = None


def detector() -> OodDetector:
    """The process's detector: the fitted one on disk (app/ml/ood_cache.py), else fitted on the
    bundled training images on first use and written there for the next process."""
    global _detector
    if _detector is None:
        with _lock:
            if _detector is None:
                found = ood_cache.load(OodDetector)
                if found is None:
                    ts = training_set()
                    found = fit(ts.X, ts.y, ts.weight)
                    ood_cache.save(found)
                _detector = found
    return _detector
