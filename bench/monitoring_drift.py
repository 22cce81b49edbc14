"""Drift monitoring measured: false-alarm and detection rates of the alarm (MMD permutation test
+ chi-square on predicted classes, Bonferroni) for unshifted and shifted streams, against the
reference app/monitoring uses; raw pooled pixels for comparison; the CBPE estimate's error and the
cost of one evaluation. The figures quoted in docs/monitoring.md come from this script.

Run from the project root:  .venv/bin/python -m bench.monitoring_drift [--trials 20] [--window 500]
Trains v1/v2 like the bootstrap (a few seconds each) instead of touching an MLflow store.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from scipy import ndimage

from app.ml import data, families, realworld
from app.ml.runtime import DigitModel
from app.monitoring.reference import build_reference, calibration_images, realworld_halves, reference_images
from app.monitoring.stats import class_chi2_test, mmd_permutation_test, pooled

ALPHA = 0.01
PERMUTATIONS = 500


def _shift(X: np.ndarray, how: str) -> np.ndarray:
    imgs = X.reshape(-1, 28, 28)
    shifts: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "none": lambda a: a,
        "rotated 90": lambda a: np.rot90(a, 1, axes=(1, 2)),
        "rotated 30": lambda a: ndimage.rotate(a, 30, axes=(1, 2), reshape=False, order=1),
        "blurred (sigma 1.5)": lambda a: ndimage.gaussian_filter(a, sigma=(0, 1.5, 1.5)),
        "thickened (3x3 dilation)": lambda a: ndimage.grey_dilation(a, size=(1, 3, 3)),
        "inverted": lambda a: 1.0 - a,
    }
    return np.clip(shifts[how](imgs), 0, 1).reshape(len(X), -1).astype(np.float32)


def streams() -> dict[str, Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]]:
    """name -> draw(rng, n) = (images, labels). Real-world digits come from the half never in
    the reference; MNIST holdout digits are in it (a sanity check)."""
    X_rw, y_rw, _ = realworld.preprocessed()
    _, half = realworld_halves()
    X_t, y_t = X_rw[half], y_rw[half]
    X_ho, y_ho = data.load_holdout()

    def real(how: str) -> Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]:
        def draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
            idx = rng.choice(len(X_t), min(n, len(X_t)), replace=False)
            return _shift(X_t[idx], how), y_t[idx]

        return draw

    def holdout(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        idx = rng.choice(len(X_ho), min(n, len(X_ho)), replace=False)
        return X_ho[idx], y_ho[idx]

    def one_class(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        idx = rng.choice(np.flatnonzero(y_t == 3), min(n, int((y_t == 3).sum())), replace=False)
        return X_t[idx], y_t[idx]

    def more_ones(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        base = rng.choice(len(X_t), n - n * 3 // 10, replace=False)
        ones = rng.choice(np.flatnonzero(y_t == 1), n * 3 // 10)
        idx = np.concatenate([base, ones])
        return X_t[idx], y_t[idx]

    out = {"real-world (unshifted)": real("none"), "MNIST holdout": holdout}
    out.update(
        {
            f"real-world {how}": real(how)
            for how in (
                "rotated 90",
                "rotated 30",
                "blurred (sigma 1.5)",
                "thickened (3x3 dilation)",
                "inverted",
            )
        }
    )
    out.update({"only 3s": one_class, "30 % extra 1s": more_ones})
    return out


def trial_row(model: DigitModel, draw: Callable, trials: int, window: int, pixels: bool) -> dict[str, float]:
    """Alarm rate, median p-values, CBPE error and seconds per evaluation over `trials` windows."""
    ref = build_reference(model, 500)
    X_ref, _ = reference_images()
    ref_pixels = pooled(X_ref[np.random.default_rng(1).choice(len(X_ref), 500, replace=False)])
    alarms, p_mmd, p_chi, errors, seconds = 0, [], [], [], []
    for t in range(trials):
        X, y = draw(np.random.default_rng(100 + t), window)
        P = model.predict_proba(X)
        t0 = time.perf_counter()
        rep, ref_rep = (pooled(X), ref_pixels) if pixels else (P, ref.probabilities)
        m = mmd_permutation_test(rep, ref_rep, permutations=PERMUTATIONS, seed=0)
        c = class_chi2_test(np.bincount(P.argmax(1), minlength=10), ref.class_counts)
        estimate = ref.calibrator.estimated_accuracy(P.max(axis=1))
        seconds.append(time.perf_counter() - t0)
        alarms += min(1.0, 2 * min(m.p_value, c.p_value)) < ALPHA
        p_mmd.append(m.p_value)
        p_chi.append(c.p_value)
        errors.append(estimate - float((P.argmax(1) == y).mean()))
    return {
        "alarm_rate": alarms / trials,
        "median_p_mmd": float(np.median(p_mmd)),
        "median_p_chi2": float(np.median(p_chi)),
        "cbpe_mean_error": float(np.mean(errors)),
        "cbpe_max_abs_error": float(np.max(np.abs(errors))),
        "ms_per_evaluation": 1000 * float(np.median(seconds)),
    }


def reference_table(model: DigitModel, trials: int, window: int) -> None:
    """Which reference keeps unshifted real-world traffic quiet: the alarm rate of the real-world
    stream against candidate references, in both representations."""
    split = data.load_split()
    X_syn, _ = data.load_synthetic()
    candidates = {
        "MNIST training images": split.X_train,
        "MNIST training + synthetic uploads": np.concatenate([split.X_train, X_syn]),
        "MNIST holdout + real-world reference half": calibration_images()[0],
        "real-world reference half (the service's)": reference_images()[0],
    }
    draw = streams()["real-world (unshifted)"]
    print(f"\n{model.family}: unshifted real-world windows of {window} against candidate references")
    print("| reference | representation | alarm rate | median p (MMD) | median p (chi2) |")
    print("|---|---|---|---|---|")
    for name, X_ref in candidates.items():
        counts = np.bincount(model.predict(X_ref), minlength=10)
        sample = X_ref[np.random.default_rng(1).choice(len(X_ref), 500, replace=False)]
        for pixels in (False, True):
            ref_rep = pooled(sample) if pixels else model.predict_proba(sample)
            alarms, ps, pc = 0, [], []
            for t in range(trials):
                X, _ = draw(np.random.default_rng(100 + t), window)
                rep = pooled(X) if pixels else model.predict_proba(X)
                m = mmd_permutation_test(rep, ref_rep, permutations=PERMUTATIONS, seed=0)
                c = class_chi2_test(np.bincount(model.predict(X), minlength=10), counts)
                alarms += min(1.0, 2 * min(m.p_value, c.p_value)) < ALPHA
                ps.append(m.p_value)
                pc.append(c.p_value)
            kind = "pooled pixels" if pixels else "probabilities"
            row = f"| {name} | {kind} | {alarms / trials:.2f} | {np.median(ps):.4f} | {np.median(pc):.3g} |"
            print(row, flush=True)


def train(alias_family: str) -> DigitModel:
    ts = data.training_set()
    hp = families.resolve_hyperparams(alias_family)
    fitted = families.train(alias_family, ts.X, ts.y, sample_weight=ts.weight, seed=0, **hp)
    return DigitModel(fitted, alias=alias_family, version=alias_family, run_id=alias_family).load()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--references", action="store_true", help="only the table of candidate references")
    args = parser.parse_args()
    if args.references:
        for family in (families.V2_FAMILY, families.V1_FAMILY):
            reference_table(train(family), args.trials, args.window)
        return
    print(
        f"window {args.window}, {args.trials} windows per row, alpha {ALPHA} (Bonferroni over 2 tests), "
        f"{PERMUTATIONS} permutations"
    )
    print(
        "| model | representation | stream | alarm rate | median p (MMD) | median p (chi2) "
        "| CBPE mean error | CBPE max abs error | ms per evaluation |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for family in (families.V2_FAMILY, families.V1_FAMILY):
        model = train(family)
        for name, draw in streams().items():
            for pixels in (False, True):
                r = trial_row(model, draw, args.trials, args.window, pixels)
                print(
                    f"| {family} | {'pooled pixels' if pixels else 'probabilities'} | {name} | "
                    f"{r['alarm_rate']:.2f} | {r['median_p_mmd']:.4f} | {r['median_p_chi2']:.3g} | "
                    f"{r['cbpe_mean_error']:+.3f} | {r['cbpe_max_abs_error']:.3f} | "
                    f"{r['ms_per_evaluation']:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
