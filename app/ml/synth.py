"""Synthetic digit images like people upload them: printed digits from many
fonts and weights, strokes drawn like the web canvas draws them, and the
degradations of real uploads (rotation, shear, off-centre, thick/thin strokes,
both polarities, blur, noise, uneven lighting, JPEG artefacts, low-resolution
scans scaled up, colour).

Two generated sets are committed under ``app/ml/assets`` so that neither tests,
the promotion gate nor a retrain need any font installed:

* ``realworld_eval.npz`` — the real-world evaluation set: encoded PNG/JPEG
  bytes (judged through the full upload path), one ``kind`` per degradation.
* ``synthetic_train.npz`` — extra training images (already preprocessed to
  28x28): printed digits from *other* fonts and degraded MNIST training-split
  digits.

The two never share a font family, a stroke source or a seed: evaluation uses
``EVAL_FONTS`` + hand-made stroke templates, training uses ``TRAIN_FONTS`` +
MNIST's training split (never its holdout).

Regenerate (needs the Debian font packages listed in ``FONT_PACKAGES``)::

    python -m app.ml.synth            # both sets
    python -m app.ml.synth --eval     # only the evaluation set
"""

from __future__ import annotations

import argparse
import io
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

ASSETS = Path(__file__).resolve().parent / "assets"
EVAL_PATH = ASSETS / "realworld_eval.npz"
TRAIN_PATH = ASSETS / "synthetic_train.npz"
FONT_DIR = Path("/usr/share/fonts")
FONT_PACKAGES = (
    "fonts-liberation fonts-freefont-ttf fonts-dejavu-core fonts-dejavu-extra fonts-crosextra-carlito "
    "fonts-crosextra-caladea fonts-cantarell fonts-lato fonts-open-sans fonts-comic-neue fonts-humor-sans "
    "fonts-dkg-handwriting fonts-jura fonts-karla fonts-inconsolata fonts-hack fonts-jetbrains-mono "
    "fonts-ebgaramond fonts-league-spartan fonts-urw-base35 fonts-cabin fonts-comfortaa fonts-firacode "
    "fonts-mplus fonts-roboto-unhinted fonts-noto-mono fonts-femkeklaver fonts-breip"
)
EVAL_SEED = 15_000
TRAIN_SEED = 27_000

# Font families (path substrings) of each side: disjoint on purpose.
EVAL_FONTS = (
    "liberation/",
    "dejavu/DejaVuSans",
    "dejavu/DejaVuSerif",
    "crosextra/",
    "lato/",
    "comic-neue/",
    "humor-sans/",
    "fifthhorseman/",
    "jetbrains-mono/",
    "urw-base35/NimbusSans",
    "urw-base35/P052",
    "urw-base35/URWBookman",
    "league-spartan/",
    "cabin/",
)
TRAIN_FONTS = (
    "freefont/",
    "open-sans/",
    "roboto/",
    "cantarell/",
    "karla/Karla-",
    "jura/",
    "hack/",
    "firacode/",
    "inconsolata/",
    "ebgaramond/",
    "urw-base35/NimbusRoman",
    "urw-base35/NimbusMono",
    "urw-base35/C059",
    "urw-base35/URWGothic",
    "urw-base35/Z003",
    "mplus/Mplus1-",
    "mplus/Mplus2-",
    "comfortaa/",
    "femkeklaver/",
    "breip/",
    "noto/",
)
_NOT_DIGITS = ("Symbol", "D050000L", "MathTeX", "dejavu/DejaVuSansMono")

KINDS = (
    "printed",
    "drawn",
    "rotated_sheared",
    "off_centre",
    "thick_thin",
    "light_on_dark",
    "blur_noise",
    "uneven_lighting",
    "jpeg",
    "low_res",
    "colour",
)
PER_DIGIT = 15  # evaluation images per kind and digit: 150 per kind


def fonts(families: tuple[str, ...]) -> list[Path]:
    found = sorted(
        p
        for p in FONT_DIR.rglob("*")
        if p.suffix in (".ttf", ".otf")
        and any(f in p.as_posix() for f in families)
        and not any(x in p.as_posix() for x in _NOT_DIGITS)
    )
    if not found:
        raise RuntimeError(f"no fonts found for {families}; apt-get install {FONT_PACKAGES}")
    return found


# --------------------------------------------------------------------------- drawn strokes


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 24) -> list:
    # Angles in degrees, image coordinates (y down): 90 is the bottom, 270 the top.
    return [
        (cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
        for a in np.linspace(a0, a1, n)
    ]


# Hand-made skeletons (unit square) of each digit, a few variants each: the
# "drawn" source of the evaluation set. Training never sees them.
TEMPLATES: dict[int, list[list[list[tuple[float, float]]]]] = {
    0: [[_arc(0.5, 0.5, 0.38, 0.5, -90, 275)], [_arc(0.5, 0.5, 0.3, 0.5, 250, 620)]],
    1: [
        [[(0.3, 0.2), (0.55, 0.0), (0.55, 1.0)]],
        [[(0.5, 0.0), (0.45, 1.0)]],
        [[(0.3, 0.2), (0.55, 0.0), (0.55, 1.0)], [(0.25, 1.0), (0.85, 1.0)]],
    ],
    2: [
        [_arc(0.5, 0.3, 0.4, 0.3, 200, 400) + [(0.05, 1.0), (1.0, 1.0)]],
        [_arc(0.5, 0.28, 0.42, 0.28, 190, 380) + [(0.1, 0.95), (0.3, 0.88), (0.95, 1.0)]],
    ],
    3: [
        [_arc(0.5, 0.25, 0.38, 0.25, 200, 450), _arc(0.5, 0.73, 0.42, 0.27, 270, 520)],
        [[(0.1, 0.0), (0.9, 0.0), (0.4, 0.4)] + _arc(0.5, 0.7, 0.42, 0.3, 260, 510)],
    ],
    4: [
        [[(0.7, 1.0), (0.7, 0.0), (0.0, 0.7), (1.0, 0.7)]],
        [[(0.15, 0.0), (0.05, 0.6), (0.95, 0.6)], [(0.72, 0.15), (0.72, 1.0)]],
    ],
    5: [
        [[(0.85, 0.0), (0.22, 0.0), (0.18, 0.45)] + _arc(0.5, 0.68, 0.4, 0.32, 215, 505)],
        [[(0.2, 0.0), (0.15, 0.45)] + _arc(0.5, 0.68, 0.4, 0.32, 215, 505), [(0.2, 0.0), (0.9, 0.0)]],
    ],
    6: [
        [[(0.75, 0.0), (0.45, 0.2), (0.22, 0.55)] + _arc(0.5, 0.72, 0.32, 0.27, 180, 540)],
        [_arc(0.9, 0.6, 0.75, 0.6, 250, 180, 16) + _arc(0.45, 0.75, 0.3, 0.25, 180, 520)],
    ],
    7: [
        [[(0.0, 0.0), (1.0, 0.0), (0.35, 1.0)]],
        [[(0.0, 0.05), (1.0, 0.0), (0.45, 1.0)], [(0.3, 0.5), (0.9, 0.5)]],
    ],
    8: [
        [_arc(0.5, 0.25, 0.3, 0.25, 90, 450), _arc(0.5, 0.73, 0.38, 0.27, 270, 630)],
        [_arc(0.5, 0.24, 0.33, 0.24, 60, 420, 30) + _arc(0.5, 0.74, 0.36, 0.26, 270, 620, 30)],
    ],
    9: [
        [_arc(0.5, 0.28, 0.36, 0.27, 0, 360), [(0.86, 0.28), (0.8, 1.0)]],
        [_arc(0.5, 0.28, 0.38, 0.28, 10, 370) + _arc(0.2, 0.28, 0.68, 0.72, 0, 90, 16)],
    ],
}


def draw_strokes(
    digit: int, rng: np.random.Generator, *, size: int = 280, width: float | None = None
) -> np.ndarray:
    """A digit drawn like the web canvas draws it (round brush, ``BRUSH=20`` on a
    280x280 canvas) from a jittered template. Returns an ink map (1 = ink)."""
    variants = TEMPLATES[digit]
    strokes = variants[rng.integers(len(variants))]
    h = rng.uniform(0.5, 0.75) * size
    w = h * rng.uniform(0.45, 0.75)
    slant = rng.uniform(-0.25, 0.25)
    x0 = rng.uniform(0.1 * size, size - w - 0.1 * size)
    y0 = rng.uniform(0.08 * size, size - h - 0.08 * size)
    width = width or rng.uniform(14, 26) * size / 280
    im = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(im)
    for stroke in strokes:
        pts = np.asarray(stroke, dtype=np.float64)
        # Smooth wobble (a hand, not a seismograph): a random warp of the
        # unit square plus a little per-point noise.
        a = rng.normal(0, 0.06, 4)
        pts = pts + np.c_[a[0] * np.sin(np.pi * pts[:, 1] + a[1]), a[2] * np.sin(np.pi * pts[:, 0] + a[3])]
        pts = pts + rng.normal(0, 0.006, pts.shape)
        xs = x0 + (pts[:, 0] + slant * (1 - pts[:, 1])) * w
        ys = y0 + pts[:, 1] * h
        line = list(zip(xs.tolist(), ys.tolist(), strict=True))
        d.line(line, fill=255, width=max(1, round(width)), joint="curve")
        r = width / 2
        for x, y in (line[0], line[-1]):  # round caps like lineCap = "round"
            d.ellipse([x - r, y - r, x + r, y + r], fill=255)
    return np.asarray(im, dtype=np.float32) / 255.0


# --------------------------------------------------------------------------- printed digits


def render_font(digit: int, font: Path, px: int, rng: np.random.Generator) -> np.ndarray:
    """The digit in ``font`` at ``px`` pixels on a canvas with a margin."""
    f = ImageFont.truetype(str(font), px)
    left, top, right, bottom = f.getbbox(str(digit))
    gw, gh = max(1, right - left), max(1, bottom - top)
    side = int(max(gw, gh) * rng.uniform(1.3, 1.8)) + 4
    im = Image.new("L", (side, side), 0)
    ox = (side - gw) / 2 - left + rng.uniform(-0.08, 0.08) * side
    oy = (side - gh) / 2 - top + rng.uniform(-0.08, 0.08) * side
    ImageDraw.Draw(im).text((ox, oy), str(digit), font=f, fill=255)
    return np.asarray(im, dtype=np.float32) / 255.0


# --------------------------------------------------------------------------- degradations


def _pil(ink: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(ink, 0, 1) * 255).astype(np.uint8))


def _arr(im: Image.Image) -> np.ndarray:
    return np.asarray(im, dtype=np.float32) / 255.0


def rotate_shear(
    ink: np.ndarray, rng: np.random.Generator, max_deg: float = 15, max_shear: float = 0.3
) -> np.ndarray:
    h, w = ink.shape
    pad = int(0.25 * max(h, w))
    im = _pil(np.pad(ink, pad))
    sh = rng.uniform(-max_shear, max_shear)
    cx, cy = im.width / 2, im.height / 2
    im = im.transform(im.size, Image.Transform.AFFINE, (1, sh, -sh * cy, 0, 1, 0), Image.Resampling.BILINEAR)
    im = im.rotate(rng.uniform(-max_deg, max_deg), Image.Resampling.BILINEAR, center=(cx, cy))
    return _arr(im)


def off_centre(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Put the digit small in a corner region of a larger canvas."""
    h, w = ink.shape
    k = rng.uniform(2.0, 3.5)
    H, W = int(h * k), int(w * k)
    out = np.zeros((H, W), np.float32)
    y = (
        int(rng.uniform(0, 1) ** 0.5 * (H - h))
        if rng.random() < 0.5
        else int((1 - rng.uniform(0, 1) ** 0.5) * (H - h))
    )
    x = (
        int(rng.uniform(0, 1) ** 0.5 * (W - w))
        if rng.random() < 0.5
        else int((1 - rng.uniform(0, 1) ** 0.5) * (W - w))
    )
    out[y : y + h, x : x + w] = ink
    return out


def thickness(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Thicken or thin the strokes by a few percent of the digit's size."""
    h, w = ink.shape
    k = max(3, int(round(max(h, w) * rng.uniform(0.025, 0.06))) | 1)
    im = _pil(ink)
    if rng.random() < 0.5:
        thin = _arr(im.filter(ImageFilter.MinFilter(k)))
        if thin.sum() > 0.4 * ink.sum():  # thinner, never broken apart
            return thin
    return _arr(im.filter(ImageFilter.MaxFilter(k)))


def compose(
    ink: np.ndarray,
    rng: np.random.Generator,
    *,
    invert: bool = False,
    colour: bool = False,
    lighting: float = 0.0,
    noise: float = 0.0,
    blur: float = 0.0,
) -> Image.Image:
    """Ink map -> picture: paper and ink tones (or colours), lighting gradient,
    blur and sensor noise. Returns an RGB or L image."""
    if blur:
        ink = _arr(_pil(ink).filter(ImageFilter.GaussianBlur(blur)))
    h, w = ink.shape
    if colour:
        paper = rng.uniform(0.6, 1.0, 3)
        pen = rng.uniform(0.0, 0.45, 3)
        if rng.random() < 0.3:
            pen[rng.integers(3)] = rng.uniform(0.5, 0.8)  # a red / green / blue pen
        if invert:
            paper, pen = 1 - paper, 1 - pen
    else:
        paper = np.full(3, rng.uniform(0.82, 1.0))
        pen = np.full(3, rng.uniform(0.0, 0.25))
        if invert:
            paper, pen = 1 - paper, 1 - pen
    img = paper[None, None] * (1 - ink[..., None]) + pen[None, None] * ink[..., None]
    if lighting:
        ang = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[:h, :w].astype(np.float32)
        g = (np.cos(ang) * (xx / w - 0.5) + np.sin(ang) * (yy / h - 0.5)) * 2  # -1..1 across
        shade = 1 - lighting * (g + 1) / 2
        img = img * shade[..., None]
    if noise:
        img = img + rng.normal(0, noise, img.shape[:2])[..., None]
    img = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    if colour:
        return Image.fromarray(img, "RGB")
    return Image.fromarray(img[..., 0], "L")


def low_res(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A low-resolution scan scaled up again."""
    small = int(rng.integers(10, 19))
    scale = small / max(im.size)
    tiny = im.resize(
        (max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.BOX
    )
    up = int(rng.integers(4, 12))
    method = Image.Resampling.NEAREST if rng.random() < 0.5 else Image.Resampling.BILINEAR
    return tiny.resize((tiny.width * up, tiny.height * up), method)


def encode(im: Image.Image, fmt: str, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        im.save(buf, "JPEG", quality=quality)
    else:
        im.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _fit(ink: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink big sources so stored files stay small (uploads are shrunk too)."""
    if max(ink.shape) <= max_side:
        return ink
    s = max_side / max(ink.shape)
    return _arr(
        _pil(ink).resize(
            (max(1, round(ink.shape[1] * s)), max(1, round(ink.shape[0] * s))), Image.Resampling.BOX
        )
    )


def degrade(kind: str, ink: np.ndarray, rng: np.random.Generator) -> bytes:
    """One upload of ``kind`` made from an ink map: the named degradation, PNG
    unless the kind (or a coin) says JPEG."""
    ink = _fit(ink, 120)
    opts: dict = {}
    fmt, quality = ("PNG", 95) if rng.random() < 0.7 else ("JPEG", int(rng.integers(80, 96)))
    if kind == "rotated_sheared":
        ink = rotate_shear(ink, rng)
    elif kind == "off_centre":
        ink = off_centre(ink, rng)
    elif kind == "thick_thin":
        ink = thickness(ink, rng)
    elif kind == "light_on_dark":
        opts["invert"] = True
    elif kind == "blur_noise":
        fmt, quality = "JPEG", int(rng.integers(70, 92))  # photos: noise does not compress in PNG
        opts["blur"] = rng.uniform(0.5, 2.0) * max(ink.shape) / 80
        opts["noise"] = rng.uniform(0.04, 0.12)
    elif kind == "uneven_lighting":
        fmt, quality = "JPEG", int(rng.integers(70, 92))
        opts["lighting"] = rng.uniform(0.25, 0.5)
        opts["noise"] = 0.02
    elif kind == "jpeg":
        fmt, quality = "JPEG", int(rng.integers(8, 35))
    elif kind == "colour":
        opts["colour"] = True
        opts["invert"] = rng.random() < 0.3
    im = compose(ink, rng, **opts)
    if kind == "low_res":
        im = low_res(im, rng)
    return encode(im, fmt, quality)


# --------------------------------------------------------------------------- the evaluation set


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
    ink = _fit(ink, 120)
    big = max(ink.shape) / 80
    if rng.random() < 0.6:
        ink = rotate_shear(ink, rng)
    if rng.random() < 0.4:
        ink = thickness(ink, rng)
    shifted = rng.random() < 0.3
    if shifted:
        ink = _fit(off_centre(ink, rng), 200)
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
    from app.ml.data import load_split
    from app.ml.errors import BlankImage
    from app.ml.preprocess import preprocess_image

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
    raw = load_split(normalise=False)  # the training split only: the holdout stays unseen
    idx = rng.choice(len(raw.y_train), N_MNIST_DEGRADED, replace=False)
    for j in idx:
        ink = raw.X_train[j].reshape(28, 28)
        scale = int(rng.integers(3, 8))
        ink = _arr(_pil(ink).resize((28 * scale, 28 * scale), Image.Resampling.BILINEAR))
        add(_random_upload(ink, rng), int(raw.y_train[j]), 1)
    return {
        "X": (np.stack(X) * 255).round().astype(np.uint8).reshape(-1, 784),
        "y": np.asarray(y, np.int8),
        "source": np.asarray(source, np.int8),
        "seed": np.asarray(seed),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description="Regenerate the committed synthetic digit sets.")
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
