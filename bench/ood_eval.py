"""Measure out-of-distribution scores: flag rate on digits vs detection rate per non-digit kind.

    OPENBLAS_NUM_THREADS=1 python -m bench.ood_eval   # prints the table, writes bench/results/ood.md

Every image is an encoded upload decoded by ``preprocess_image`` (as served). Candidates are
fitted on the bundled training images only. Each candidate's threshold is calibrated on the
even-indexed halves of the real-world set and the MNIST holdout (the larger 98th percentile);
the flag rates reported are on the odd halves. Non-digits come from two disjoint generators
(``app.ml.synth.nondigits``: ``dev`` to choose, ``test`` to report), plus ``heldout`` letters in
fonts no fit or choice ever saw (the outlier-exposure negatives are hand-drawn skeletons,
``synth.handletters``). Uploads the preprocessing already refuses as blank (422
``blank_image``) are counted apart: they never get an answer.
"""

from __future__ import annotations

import string
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from app.ml import data, ood, realworld
from app.ml.errors import ImageError
from app.ml.preprocess import preprocess_image
from app.ml.synth import nondigits

N_PER_KIND = 150
QUANTILE = 0.98
OUT = Path(__file__).resolve().parent / "results" / "ood.md"
Score = Callable[[np.ndarray], np.ndarray]
NOTES = """Reading: three signals, each catching what the others miss. The distance (k-means
Mahalanobis on gradient components + the distance off them + stroke statistics) sees shapes,
specks, photos and letters far from every digit; the doubt of the detector's own linear
classifier sees smudges between digit classes; the letters term (outlier exposure: a multinomial
logistic regression on 60 gradient components over the ten digits plus 37 hand-drawn letters,
random strokes and blots from `app/ml/synth/handletters.py`) sees letters that are close to a
digit yet nearer a letter. Letters no font draws like a digit go from 65-69 % to 95 % flagged on
all three sources, including `heldout` (matplotlib's STIX and Computer Modern fonts, used for no
fit and no choice; the fitted letters are hand-drawn skeletons, never a font); every other kind
gains, smudges most (71 -> 95 %, but the blots are a near neighbour of that generator, so that
row no longer checks them independently). Digits: the real-world flag rate rises 0.4 -> 1.1 %
(low-res and rotated 0s, 1s and 4s, mostly by the letters term), MNIST's stays ~3 %. Measured on
the dev rows and rejected: a binary digits-vs-letters classifier (other letters 69-74 %); the
classifier on all 392 features (5 s fit instead of 0.3 s, no better); negatives without
same-hand digits (real-world digits flagged 3-4 %); random strokes with long arcs (they close
into 0s: real-world 0s flagged); no blots (the union raised the threshold and cost smudges 3-9
points); a larger shift (real-world 1.8-2.2 %, letters +0-1 point). The double-storey "a"
template was added after the dev row missed printed a's (the test and heldout rows missed them
too, so those two rows saw that one choice). Still missed: letters drawn like digits (O l I S Z
B g q D ...: 12 % flagged, by design: a 0 must not be flagged) and a few f, t, T, p, r, J.
Full-frame noise is mostly refused before any model (blank). ms_per_image is wall time on a
shared 2-core machine over large batches (single-threaded BLAS); see README for CPU times.
"""


def _decode(blobs: list[bytes]) -> tuple[np.ndarray, int]:
    out, blank = [], 0
    for blob in blobs:
        try:
            out.append(preprocess_image(blob).ravel())
        except ImageError:
            blank += 1
    return np.asarray(out, np.float32).reshape(-1, 784), blank


def _pca(F: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    mean = F.mean(axis=0)
    return mean, np.linalg.svd(F - mean, full_matrices=False)[2][:k]


def _previous(det: ood.OodDetector, X: np.ndarray, y: np.ndarray) -> Score:
    """The detector before the off-subspace distance and the doubt term (k-means Mahalanobis on
    20 gradient components + stroke statistics)."""

    def view(A: np.ndarray) -> np.ndarray:
        F = det.features(A)
        return np.delete(F, ood.N_COMPONENTS, axis=1)  # drop the off-subspace distance

    whiten = ood._whitening(view(X), y)
    centres = ood._modes(view(X) @ whiten, y)

    def score(A: np.ndarray) -> np.ndarray:
        z = view(A) @ whiten
        d2 = (z * z).sum(1)[:, None] - 2 * z @ centres.T + (centres**2).sum(1)[None]
        return np.sqrt(np.maximum(d2.min(axis=1), 0))

    return score


def candidates(X: np.ndarray, y: np.ndarray, weight: np.ndarray) -> dict[str, Score]:
    """The measured scores, each fitted on the training images (X, y, weight)."""
    chosen = ood.fit(X, y, weight)
    feats = ood.gradient_features
    Z = (feats(X) - chosen.mean) @ chosen.components.T
    pmean, ppcs = _pca(X, 40)

    def distance(A: np.ndarray) -> np.ndarray:
        return chosen.distance(A, feats(A))

    def doubt(A: np.ndarray) -> np.ndarray:
        return ood.DOUBT_WEIGHT * chosen.doubt(feats(A))

    def far_or_between(A: np.ndarray) -> np.ndarray:
        return np.maximum(distance(A), doubt(A))

    def letters(A: np.ndarray) -> np.ndarray:
        return chosen.letters(feats(A)) + ood.OE_SHIFT

    def knn_grad(A: np.ndarray) -> np.ndarray:
        q = (feats(A) - chosen.mean) @ chosen.components.T
        d2 = (q * q).sum(1)[:, None] - 2 * q @ Z.T + (Z * Z).sum(1)[None]
        return np.sqrt(np.maximum(np.sort(d2, axis=1)[:, :5], 0)).mean(axis=1)

    def pca_recon(A: np.ndarray) -> np.ndarray:
        c = A - pmean
        return np.linalg.norm(c - (c @ ppcs.T) @ ppcs, axis=1)

    return {
        "max(distance, doubt, letters) (chosen)": chosen.score,
        "letters only (outlier exposure)": letters,
        "max(distance, doubt) (before)": far_or_between,
        "distance only": distance,
        "doubt only": doubt,
        "previous: distance without the off-subspace term": _previous(chosen, X, y),
        "kNN (k=5) on gradient PCA": knn_grad,
        "PCA(40) pixel reconstruction error": pca_recon,
    }


def _sets() -> tuple[dict[str, np.ndarray], dict[str, int]]:
    Xr, _, _ = realworld.preprocessed()
    Xh, _ = data.load_holdout()
    sets = {"realworld": np.asarray(Xr), "holdout": np.asarray(Xh)}
    blank = {}
    for variant in ("dev", "test"):
        for kind in nondigits.KINDS:
            sets[f"{variant}/{kind}"], blank[f"{variant}/{kind}"] = _decode(
                nondigits.make(kind, N_PER_KIND, variant)
            )
    chars = "".join(sorted(nondigits.DIGIT_LIKE))
    sets["test/digit-like letters"], blank["test/digit-like letters"] = _decode(
        [b for _, b in nondigits.letters(chars * 10)]
    )
    # Letters no font draws like a digit (A C E F H K M N P R T U V W X Y ...), every generator.
    others = "".join(c for c in string.ascii_letters if c not in nondigits.DIGIT_LIKE)
    for variant in ("dev", "test", "heldout"):
        key = f"{variant}/other letters"
        sets[key], blank[key] = _decode([b for _, b in nondigits.letters(others * 4, variant)])
    return sets, blank


def measure(name: str, score: Score, sets: dict[str, np.ndarray]) -> dict[str, float]:
    started = time.perf_counter()
    s = {k: score(a) if len(a) else np.zeros(0) for k, a in sets.items()}
    per_image_ms = (time.perf_counter() - started) * 1000 / sum(len(a) for a in sets.values())
    thr = max(np.quantile(s["realworld"][::2], QUANTILE), np.quantile(s["holdout"][::2], QUANTILE))
    row = {"threshold": float(thr), "ms_per_image": per_image_ms}
    row["realworld"] = float(np.mean(s["realworld"][1::2] > thr))
    row["holdout"] = float(np.mean(s["holdout"][1::2] > thr))
    for key, vals in s.items():
        if "/" in key:
            row[key] = float(np.mean(vals > thr)) if len(vals) else float("nan")
    return row


def table(rows: dict[str, dict[str, float]], blank: dict[str, int], sizes: dict[str, int]) -> str:
    keys = ["realworld", "holdout", *blank]
    lines = ["| set | " + " | ".join(rows) + " |", "|---" * (len(rows) + 1) + "|"]
    for key in ["threshold", "ms_per_image", *keys]:
        label = f"{key} (blank: {blank[key]}/{sizes[key] + blank[key]})" if key in blank else key
        cells = [f"{r[key]:.3f}" for r in rows.values()]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    started = time.perf_counter()
    ts = data.training_set()
    fit_started = time.perf_counter()
    ood.fit(ts.X, ts.y, ts.weight)
    fit_s = time.perf_counter() - fit_started
    sets, blank = _sets()
    rows = {name: measure(name, score, sets) for name, score in candidates(ts.X, ts.y, ts.weight).items()}
    text = table(rows, blank, {k: len(a) for k, a in sets.items()})
    print(text)
    print(f"detector fit: {fit_s:.2f} s; whole run {time.perf_counter() - started:.0f} s")
    OUT.write_text(
        "# Out-of-distribution scores (python -m bench.ood_eval)\n\n"
        "Rows `realworld` / `holdout`: share of digits flagged (odd halves; thresholds set on the\n"
        "even halves). Rows `dev/...` / `test/...` / `heldout/...`: share of non-digits flagged among\n"
        "those the preprocessing answered (the blank count never gets an answer: 422 `blank_image`).\n"
        "`heldout`: letters in fonts no fit or choice used (matplotlib's STIX / Computer Modern).\n\n"
        f"{text}\n\nDetector fit on the training images: {fit_s:.2f} s.\n\n{NOTES}"
    )


if __name__ == "__main__":
    main()
