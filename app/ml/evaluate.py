"""The model table of the README: per alias and family, MNIST-holdout and
real-world accuracy (overall and per kind) and the training time.

    python -m app.ml.evaluate                 # v1, v2 and the other families
    python -m app.ml.evaluate --out bench/results/accuracy

Each family is trained exactly as ``flask models bootstrap`` trains it (same
data, weights and seed), single-threaded like every training here, then judged
on the fixed MNIST holdout and on the real-world set through the served
preprocessing. Also reports the in-process cost of one image (decode +
preprocess of a PNG upload, and ``predict_proba`` of one image).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.ml import data, families, realworld, tracking
from app.ml.preprocess import preprocess_image
from app.ml.runtime import DigitModel

SHORT = {
    "rotated_sheared": "rot/shear",
    "off_centre": "off-centre",
    "thick_thin": "thick/thin",
    "light_on_dark": "light-on-dark",
    "blur_noise": "blur+noise",
    "uneven_lighting": "lighting",
    "low_res": "low-res",
}


def _per_image_ms(fn: Any, n: int) -> float:
    fn(0)
    samples = []
    for _ in range(5):
        t0 = time.perf_counter()
        for i in range(n):
            fn(i)
        samples.append((time.perf_counter() - t0) / n)
    return statistics.median(samples) * 1e3


def measure(family: str, *, limit: int | None = None) -> dict[str, Any]:
    split = data.load_split(limit=limit)
    ts = data.training_set(limit=limit)
    hp = families.resolve_hyperparams(family)
    t0 = time.perf_counter()
    model = families.train(family, ts.X, ts.y, sample_weight=ts.weight, seed=0, **hp)
    seconds = time.perf_counter() - t0
    holdout = families.evaluate(model, split.X_holdout, split.y_holdout)["accuracy"]
    rw = realworld.evaluate(model)
    X = np.ascontiguousarray(split.X_holdout[:64])
    dm = DigitModel(model).load()
    predict_ms = _per_image_ms(lambda i: dm.predict_proba(X[i % 64]), 64)
    return {
        "family": family,
        "description": families.get_family(family).description,
        "n_train": int(len(ts.y)),
        "train_seconds": round(seconds, 2),
        "holdout_accuracy": holdout,
        "realworld": rw,
        "predict_ms_per_image": round(predict_ms, 3),
    }


def preprocess_ms() -> float:
    blobs = realworld.load().blobs

    def one(i: int) -> None:
        try:
            preprocess_image(blobs[i % len(blobs)])
        except Exception:  # noqa: BLE001 - a rejected image still costs its time
            pass

    return round(_per_image_ms(one, len(blobs)), 3)


def markdown(rows: list[dict[str, Any]], kinds: tuple[str, ...]) -> str:
    head = [
        "alias",
        "family",
        "MNIST holdout",
        "real-world",
        *[SHORT.get(k, k) for k in kinds],
        "train (s)",
        "predict (ms)",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        rw = r["realworld"]
        cells = [
            f"`{r['alias']}`" if r["alias"] else "—",
            r["family"],
            f"**{r['holdout_accuracy'] * 100:.1f} %**",
            f"**{rw['accuracy'] * 100:.1f} %**",
            *[f"{rw['per_kind'][k] * 100:.0f}" for k in kinds],
            f"{r['train_seconds']:.1f}",
            f"{r['predict_ms_per_image']:.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", nargs="*", default=None, help="default: v1, v2, then the others")
    ap.add_argument("--out", default=None, help="write <out>.json and <out>.md")
    args = ap.parse_args(argv)
    aliases = {fam: alias for alias, fam in tracking.BOOTSTRAP_PLAN}
    chosen = args.families or [f for _, f in tracking.BOOTSTRAP_PLAN] + sorted(
        set(families.FAMILIES) - set(aliases)
    )
    realworld.preprocessed()  # decode the set once, outside the timings
    rows = []
    for family in chosen:
        r = {"alias": aliases.get(family), **measure(family)}
        rows.append(r)
        print(
            f"{r['alias'] or '-'} {family}: holdout {r['holdout_accuracy']:.4f}, real-world "
            f"{r['realworld']['accuracy']:.4f} (worst kind {r['realworld']['min_kind']:.4f}), "
            f"trained in {r['train_seconds']:.1f} s, predict {r['predict_ms_per_image']:.3f} ms/image",
            file=sys.stderr,
        )
    kinds = realworld.load().kind_names
    table = markdown(rows, kinds)
    prep = preprocess_ms()
    print(table)
    print(f"\nDecode + preprocess of one real-world upload: {prep:.2f} ms (median over the set).")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(
            json.dumps({"rows": rows, "preprocess_ms_per_image": prep, "kinds": kinds}, indent=2) + "\n"
        )
        out.with_suffix(".md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
