"""The real-world evaluation set and the synthetic training set, and the CLI
(``python -m app.ml.synth``) that regenerates both. The order of the random
draws is part of the committed data: keep it when editing."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from app.ml.codec import IMAGE_SIDE, N_PIXELS
from app.ml.data import raw_split
from app.ml.errors import BlankImage
from app.ml.preprocess import preprocess_image
from app.ml.synth import (
    ASSETS,
    EVAL_FONTS,
    EVAL_PATH,
    EVAL_SEED,
    KINDS,
    PER_DIGIT,
    TRAIN_FONTS,
    TRAIN_PATH,
    TRAIN_SEED,
    fonts,
)
from app.ml.synth.degrade import (
    compose,
    degrade,
    encode,
    fit_side,
    image_ink,
    ink_image,
    low_res,
    off_centre,
    rotate_shear,
    thickness,
)
from app.ml.synth.strokes import draw_strokes, render_font


def _eval_source(kind: str, digit: int, i: int, fonts_: list[Path], rng: np.random.Generator) -> np.ndarray:
    """Printed, drawn or both (alternating) as the kind's source."""
    drawn = kind == "drawn" or (kind != "printed" and i % 2 == 1)
    if drawn:
        return draw_strokes(digit, rng)
    font = fonts_[rng.integers(len(fonts_))]
    return render_font(digit, font, int(rng.integers(14, 120)), rng)


def make_eval_set(seed: int = EVAL_SEED) -> dict[str, np.ndarray]:
    fonts_ = fonts(EVAL_FONTS)
    blobs: list[bytes] = []
    labels: list[int] = []
    kinds: list[int] = []
    for k, kind in enumerate(KINDS):
        rng = np.random.default_rng([seed, k])
        for digit in range(10):
            for i in range(PER_DIGIT):
                blobs.append(degrade(kind, _eval_source(kind, digit, i, fonts_, rng), rng))
                labels.append(digit)
                kinds.append(k)
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    return {
        "data": np.frombuffer(b"".join(blobs), dtype=np.uint8),
        "offsets": offsets,
        "labels": np.asarray(labels, np.int8),
        "kinds": np.asarray(kinds, np.int8),
        "kind_names": np.asarray(KINDS),
        "seed": np.asarray(seed),
    }


# --------------------------------------------------------------------------- the synthetic training set

N_PRINTED = 1500  # training-font printed digits
N_MNIST_DEGRADED = 1000  # degraded copies of MNIST training-split digits


def _random_upload(ink: np.ndarray, rng: np.random.Generator) -> bytes:
    """A random mix of the degradations (training side), kept legible: blur
    scales with the digit, and a low-resolution scan is never also a small
    off-centre digit (that leaves a few pixels of blob, i.e. label noise)."""
    ink = fit_side(ink, 120)
    big = max(ink.shape) / 80
    if rng.random() < 0.6:
        ink = rotate_shear(ink, rng)
    if rng.random() < 0.4:
        ink = thickness(ink, rng)
    shifted = rng.random() < 0.3
    if shifted:
        ink = fit_side(off_centre(ink, rng), 200)
    im = compose(
        ink,
        rng,
        invert=rng.random() < 0.4,
        colour=rng.random() < 0.25,
        lighting=rng.uniform(0.1, 0.5) if rng.random() < 0.3 else 0.0,
        noise=rng.uniform(0.02, 0.12) if rng.random() < 0.3 else 0.0,
        blur=rng.uniform(0.3, 1.5) * big if rng.random() < 0.3 else 0.0,
    )
    if not shifted and rng.random() < 0.25:
        im = low_res(im, rng)
    if rng.random() < 0.35:
        return encode(im, "JPEG", int(rng.integers(12, 90)))
    return encode(im, "PNG")


def make_train_set(
    seed: int = TRAIN_SEED, progress: Callable[[str], object] = print
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    fonts_ = fonts(TRAIN_FONTS)
    progress(f"{len(fonts_)} training fonts")
    X: list[np.ndarray] = []
    y: list[int] = []
    source: list[int] = []  # 0 printed, 1 MNIST training split (never its holdout)

    def add(data: bytes, label: int, src: int) -> None:
        try:
            X.append(preprocess_image(data))
        except BlankImage:
            return
        y.append(label)
        source.append(src)

    for i in range(N_PRINTED):
        digit = i % 10
        ink = render_font(digit, fonts_[rng.integers(len(fonts_))], int(rng.integers(14, 120)), rng)
        add(_random_upload(ink, rng) if rng.random() < 0.8 else encode(compose(ink, rng), "PNG"), digit, 0)
    raw = raw_split()  # the un-normalised split; the training split only: the holdout stays unseen
    idx = rng.choice(len(raw.y_train), N_MNIST_DEGRADED, replace=False)
    for j in idx:
        ink = raw.X_train[j].reshape(IMAGE_SIDE, IMAGE_SIDE)
        scale = int(rng.integers(3, 8))
        big = (IMAGE_SIDE * scale, IMAGE_SIDE * scale)
        ink = image_ink(ink_image(ink).resize(big, Image.Resampling.BILINEAR))
        add(_random_upload(ink, rng), int(raw.y_train[j]), 1)
    return {
        "X": (np.stack(X) * 255).round().astype(np.uint8).reshape(-1, N_PIXELS),
        "y": np.asarray(y, np.int8),
        "source": np.asarray(source, np.int8),
        "seed": np.asarray(seed),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        prog="python -m app.ml.synth", description="Regenerate the committed synthetic digit sets."
    )
    ap.add_argument("--eval", action="store_true", help="only the real-world evaluation set")
    ap.add_argument("--train", action="store_true", help="only the synthetic training set")
    args = ap.parse_args()
    ASSETS.mkdir(exist_ok=True)
    both = not (args.eval or args.train)
    if args.eval or both:
        s = make_eval_set()
        np.savez_compressed(EVAL_PATH, **s)
        print(f"{EVAL_PATH}: {len(s['labels'])} images, {EVAL_PATH.stat().st_size // 1024} KiB")
    if args.train or both:
        s = make_train_set()
        np.savez_compressed(TRAIN_PATH, **s)
        print(f"{TRAIN_PATH}: {len(s['y'])} images, {TRAIN_PATH.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
