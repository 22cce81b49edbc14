"""Non-digit uploads for measuring and testing the out-of-distribution flag.

Each kind is drawn as an ink map (or a whole picture) and encoded as the PNG/JPEG
bytes a user would send, through the same upload degradations as the digit sets
(``degrade``). Two disjoint generators: ``dev`` (used to choose the method) and
``test`` (reported and used by tests): other seeds, other fonts, other shape sizes. A third,
``heldout``, draws letters only, in fonts used for nothing else (matplotlib's STIX and Computer
Modern): the honest figure for a letter source no choice was made on.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from scipy import ndimage

from app.ml.synth import FONT_DIR
from app.ml.synth.degrade import compose, degrade, encode

KINDS = ("noise", "photo", "letter", "shape", "smudge", "scribble", "speck")
_DEGRADE = ("printed", "rotated_sheared", "off_centre", "thick_thin", "light_on_dark", "blur_noise",
            "uneven_lighting", "jpeg", "colour")  # fmt: skip
# Letters that are drawn like a digit in most fonts: reported apart, never asserted.
DIGIT_LIKE = frozenset("OoIlZzSsBbgqGDQ")
SEEDS = {"dev": 41_000, "test": 52_000, "heldout": 77_000}
_HELDOUT_FONTS = ("STIXGeneral", "cmr10", "cmss10", "cmtt10", "cmb10", "cmmi10")


def _fonts(variant: str) -> list[ImageFont.FreeTypeFont]:
    # dev: the DejaVu fonts installed here; test: Pillow's bundled font (another design);
    # heldout: the serif, sans, typewriter and italic designs matplotlib ships (not DejaVu).
    if variant == "heldout":
        import matplotlib

        found = sorted((Path(matplotlib.get_data_path()) / "fonts" / "ttf").glob("*.ttf"))
        return [ImageFont.truetype(str(p), 48) for p in found if p.name.startswith(_HELDOUT_FONTS)]
    if variant == "test":
        return [ImageFont.load_default(size=s) for s in (40, 64, 96)]
    paths = sorted(Path(FONT_DIR).rglob("*.ttf"))
    return [ImageFont.truetype(str(p), 64) for p in paths] or [ImageFont.load_default(size=64)]


def _canvas(side: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    im = Image.new("L", (side, side), 0)
    return im, ImageDraw.Draw(im)


def _ink(im: Image.Image) -> np.ndarray:
    return np.asarray(im, dtype=np.float32) / 255.0


def letter(rng: np.random.Generator, fonts: list, ch: str | None = None) -> tuple[np.ndarray, str]:
    ch = ch or str(rng.choice(list(string.ascii_letters)))
    font = fonts[rng.integers(len(fonts))]
    left, top, right, bottom = font.getbbox(ch)
    side = int(max(right - left, bottom - top) * rng.uniform(1.3, 1.8)) + 4
    im, d = _canvas(side)
    d.text(((side - (right - left)) / 2 - left, (side - (bottom - top)) / 2 - top), ch, font=font, fill=255)
    return _ink(im), ch


def shape(rng: np.random.Generator, big: bool) -> np.ndarray:
    side = 100
    im, d = _canvas(side)
    w = int(rng.integers(3, 9 if big else 6))
    m = int(rng.integers(10, 25))
    box = [m, m + int(rng.integers(-5, 6)), side - m, side - m]
    fill = 255 if rng.random() < 0.4 else None
    pick = int(rng.integers(6))
    if pick == 0:
        d.rectangle(box, outline=255, width=w, fill=fill)
    elif pick == 1:
        d.ellipse([m, m, side - m, side - m - int(rng.integers(0, 30))], outline=255, width=w, fill=255)
    elif pick == 2:
        d.polygon([(side / 2, m), (m, side - m), (side - m, side - m)], outline=255, width=w, fill=fill)
    elif pick == 3:  # a grid
        k = int(rng.integers(3, 6))
        for t in np.linspace(m, side - m, k):
            d.line([(t, m), (t, side - m)], fill=255, width=w)
            d.line([(m, t), (side - m, t)], fill=255, width=w)
    elif pick == 4:  # parallel lines
        for t in np.linspace(m, side - m, int(rng.integers(3, 7))):
            d.line([(m, t), (side - m, t + rng.uniform(-10, 10))], fill=255, width=w)
    else:  # a star / cross-hatch of lines through the centre
        for a in rng.uniform(0, np.pi, int(rng.integers(3, 6))):
            dx, dy = np.cos(a) * (side / 2 - m), np.sin(a) * (side / 2 - m)
            d.line([(side / 2 - dx, side / 2 - dy), (side / 2 + dx, side / 2 + dy)], fill=255, width=w)
    return _ink(im)


def smudge(rng: np.random.Generator) -> np.ndarray:
    """A soft blob (or a few) on an otherwise blank page."""
    side = 120
    f = np.zeros((side, side), np.float32)
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = rng.uniform(25, 95, 2)
        sy, sx = rng.uniform(6, 22, 2)
        yy, xx = np.mgrid[:side, :side]
        f += np.exp(-0.5 * (((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2)) * rng.uniform(0.5, 1.0)
    f *= 1 + 0.4 * ndimage.gaussian_filter(rng.normal(0, 1, f.shape), 3)
    return np.clip(f / f.max(), 0, 1).astype(np.float32)


def scribble(rng: np.random.Generator) -> np.ndarray:
    """A random pen path: a smooth random walk with many turns."""
    side = 100
    im, d = _canvas(side)
    n = int(rng.integers(25, 60))
    steps = ndimage.gaussian_filter1d(rng.normal(0, 1, (n, 2)), 1.5, axis=0)
    pts = np.cumsum(steps, axis=0)
    pts = (pts - pts.min(0)) / np.maximum(np.ptp(pts, 0), 1e-6) * (side - 30) + 15
    d.line([tuple(p) for p in pts], fill=255, width=int(rng.integers(3, 7)), joint="curve")
    return _ink(im)


def speck(rng: np.random.Generator) -> np.ndarray:
    """A few tiny dots on a large blank page (dust, a pen touch)."""
    side = 200
    im, d = _canvas(side)
    for _ in range(int(rng.integers(1, 4))):
        x, y, r = rng.uniform(20, 180), rng.uniform(20, 180), rng.uniform(1, 3)
        d.ellipse([x - r, y - r, x + r, y + r], fill=255)
    return _ink(im)


def noise_picture(rng: np.random.Generator) -> Image.Image:
    """Pixel noise: uniform or gaussian over the frame, salt-and-pepper on a page, or blocky."""
    side = int(rng.integers(28, 200))
    mode = int(rng.integers(4))
    if mode == 0:
        a = rng.uniform(0, 1, (side, side))
    elif mode == 1:
        a = rng.normal(0.5, rng.uniform(0.1, 0.3), (side, side))
    elif mode == 2:  # dark pepper on white paper
        a = np.where(rng.random((side, side)) < rng.uniform(0.02, 0.15), rng.uniform(0, 0.4), 1.0)
    else:  # coarse random blocks, scaled up
        cells = int(rng.integers(3, 9))
        a = np.kron(rng.uniform(0, 1, (cells, cells)), np.ones((side // cells + 1,) * 2))[:side, :side]
    return Image.fromarray((np.clip(a, 0, 1) * 255).astype(np.uint8), "L")


def photo_picture(rng: np.random.Generator) -> Image.Image:
    """Natural-photo-like: smooth random fields, gradients and soft texture, in colour or gray."""
    side = int(rng.integers(64, 256))
    yy, xx = np.mgrid[:side, :side] / side
    a = rng.uniform(-1, 1) * xx + rng.uniform(-1, 1) * yy
    for sigma in (side / 4, side / 12, side / 40):
        a = (
            a
            + rng.uniform(0.2, 1.0)
            * ndimage.gaussian_filter(rng.normal(0, 1, (side, side)), sigma)
            * sigma
            / 4
        )
    a = (a - a.min()) / max(np.ptp(a), 1e-6)
    if rng.random() < 0.5:
        tint = rng.uniform(0.3, 1.0, 3)
        rgb = (a[..., None] * tint + rng.uniform(0, 0.3, 3)) * 255
        im = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    else:
        im = Image.fromarray((a * 255).astype(np.uint8), "L")
    return im.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.5)))


def _upload(ink: np.ndarray, rng: np.random.Generator) -> bytes:
    return degrade(str(rng.choice(_DEGRADE)), ink, rng)


def _picture_upload(im: Image.Image, rng: np.random.Generator) -> bytes:
    fmt = "JPEG" if rng.random() < 0.5 else "PNG"
    return encode(im, fmt, int(rng.integers(60, 95)))


def make(kind: str, n: int, variant: str = "test") -> list[bytes]:
    """``n`` uploads of one non-digit ``kind`` from the ``variant`` generator."""
    rng = np.random.default_rng(SEEDS[variant] + KINDS.index(kind))
    fonts = _fonts(variant) if kind == "letter" else []
    big = variant == "dev"
    makers: dict[str, Callable[[], bytes]] = {
        "noise": lambda: _picture_upload(noise_picture(rng), rng),
        "photo": lambda: _picture_upload(photo_picture(rng), rng),
        "letter": lambda: _upload(letter(rng, fonts)[0], rng),
        "shape": lambda: _upload(shape(rng, big), rng),
        "smudge": lambda: encode(compose(smudge(rng), rng, noise=0.01), "PNG"),
        "scribble": lambda: _upload(scribble(rng), rng),
        "speck": lambda: encode(compose(speck(rng), rng), "PNG"),
    }
    return [makers[kind]() for _ in range(n)]


def letters(chars: str, variant: str = "test") -> list[tuple[str, bytes]]:
    """One upload per character in ``chars`` (for per-letter reports)."""
    rng = np.random.default_rng(SEEDS[variant] + 99)
    fonts = _fonts(variant)
    return [(ch, _upload(letter(rng, fonts, ch)[0], rng)) for ch in chars]
