"""In-process model timings: per-image predict_proba for v1 and v2 (single
image and batches of 64/256) and PNG decode + preprocessing.

Run from the project root:  .venv/bin/python -m bench.predict_model [--repeat N]
Trains v1/v2 on the bundled training split (a few seconds) instead of touching
any MLflow store, so the figures are the model's own cost, not I/O.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from app.ml import data, families, tracking
from app.ml.preprocess import preprocess_image
from app.ml.runtime import DigitModel
from devstack.images import png_bytes


def per_call(fn: Callable[[], object], *, repeat: int, min_time: float = 0.2) -> float:
    """Median seconds per call over ``repeat`` timed blocks."""
    fn()  # warm up
    n = 1
    while True:  # size a block to ~min_time / repeat
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t0 > min_time / repeat or n > 1 << 16:
            break
        n *= 2
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t0) / n)
    return statistics.median(samples)


def canvas_png(size: int) -> bytes:
    im = Image.new("L", (size, size), 255)
    d = ImageDraw.Draw(im)
    s = size / 300
    d.line([(40 * s, 50 * s), (140 * s, 50 * s), (80 * s, 210 * s)], fill=0, width=max(2, int(22 * s)))
    return png_bytes(im)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()

    split = data.load_split()
    rows: list[tuple[str, str, float, float]] = []
    for alias, family in tracking.BOOTSTRAP_PLAN:
        t0 = time.perf_counter()
        model = DigitModel(families.train(family, split.X_train, split.y_train), alias=alias).load()
        seconds = time.perf_counter() - t0
        acc = families.evaluate(model.model, split.X_holdout, split.y_holdout)["accuracy"]
        print(f"{alias} ({family}): trained in {seconds:.2f} s, holdout accuracy {acc:.4f}")
        for batch in (1, 64, 256):
            X = np.ascontiguousarray(split.X_holdout[:batch])
            t = per_call(lambda X=X, model=model: model.predict_proba(X), repeat=args.repeat)
            rows.append((f"{alias} predict_proba", f"batch {batch}", t / batch * 1e3, batch / t))

    for size in (64, 300, 1024):
        png = canvas_png(size)
        t = per_call(lambda png=png: preprocess_image(png), repeat=args.repeat)
        rows.append(("decode+preprocess PNG", f"{size}x{size} ({len(png) // 1024 or 1} KiB)", t * 1e3, 1 / t))

    print(f"\n{'what':<24} {'input':<22} {'ms/image':>10} {'images/s':>10}")
    for what, inp, ms, rate in rows:
        print(f"{what:<24} {inp:<22} {ms:>10.3f} {rate:>10,.0f}")


if __name__ == "__main__":
    main()
