"""The two sources of a synthetic digit: strokes drawn like the web canvas draws
them (from hand-made templates) and digits printed in a font."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont


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
