"""Hand-drawn non-digits for fitting the out-of-distribution detector (outlier exposure).

Letters drawn like the web canvas draws a digit (round brush on jittered skeletons, as
``strokes.draw_strokes`` does), random compositions of a few strokes and soft blots, normalised to
28x28 like a served upload; plus digits drawn by the same hand (positives).

Disjoint from every evaluation source on purpose: the evaluation letters are font glyphs
(``nondigits``: DejaVu for "dev", Pillow's bundled font for "test", matplotlib's STIX / Computer
Modern for "heldout") drawn from other seeds; these are hand-made skeletons, never a font, drawn
from their own seed. Letters drawn like a digit (``nondigits.DIGIT_LIKE``) are left out: as
negatives they would teach the detector to flag real 0, 1, 2, 5 and 8. The blots are filled
ellipses blurred (``nondigits.smudge`` sums textured Gaussians): the smudge row is a near
neighbour of this class, not an independent check of it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from app.ml.errors import BlankImage
from app.ml.preprocess import normalise_array
from app.ml.synth.strokes import _arc

Stroke = list[tuple[float, float]]
SEED = 63_000  # neither nondigits.SEEDS (41_000, 52_000) nor the digit sets' seeds
_SIDE = 64  # drawing canvas (px): cheap to draw, normalised to 28x28 anyway


def _hump(x0: float, x1: float, y: float) -> Stroke:
    """An arch from (x0, y + 0.1) over y down to (x1, bottom): the shoulder of n, h, m."""
    return [(x0, y + 0.1), *_arc((x0 + x1) / 2, y + 0.1, (x1 - x0) / 2, 0.3, 180, 360), (x1, 1.0)]


def _bowl(cx: float, cy: float, rx: float, ry: float) -> Stroke:
    return _arc(cx, cy, rx, ry, -20, 345)


_P = [(0.0, 1.0), (0.0, 0.0), *_arc(0.45, 0.27, 0.5, 0.27, 270, 450), (0.0, 0.54)]
# Skeletons in the unit square (y down), a few variants each, and the width/height range.
TEMPLATES: dict[str, tuple[list[list[Stroke]], tuple[float, float]]] = {
    "A": ([[[(0, 1), (0.5, 0), (1, 1)], [(0.22, 0.62), (0.78, 0.62)]]], (0.7, 1.1)),
    "C": ([[_arc(0.55, 0.5, 0.45, 0.5, 320, 40)]], (0.6, 0.95)),
    "E": ([[[(1, 0), (0, 0), (0, 1), (1, 1)], [(0, 0.5), (0.8, 0.5)]]], (0.5, 0.85)),
    "F": ([[[(1, 0), (0, 0), (0, 1)], [(0, 0.48), (0.8, 0.48)]]], (0.5, 0.85)),
    "H": ([[[(0, 0), (0, 1)], [(1, 0), (1, 1)], [(0, 0.5), (1, 0.5)]]], (0.6, 1.0)),
    "J": (
        [[[(0.3, 0), (1, 0)], [(0.75, 0), (0.75, 0.72), *_arc(0.45, 0.72, 0.3, 0.28, 0, 170)]]],
        (0.5, 0.8),
    ),
    "K": (
        [
            [[(0, 0), (0, 1)], [(1, 0), (0, 0.55), (1, 1)]],
            [[(0, 0), (0, 1)], [(0.9, 0), (0, 0.6)], [(0.3, 0.42), (1, 1)]],
        ],
        (0.55, 0.9),
    ),
    "L": ([[[(0, 0), (0, 1), (0.9, 1)]]], (0.5, 0.8)),
    "M": ([[[(0, 1), (0.05, 0), (0.5, 0.6), (0.95, 0), (1, 1)]]], (0.8, 1.2)),
    "N": ([[[(0, 1), (0, 0), (1, 1), (1, 0)]]], (0.65, 1.0)),
    "P": ([[_P]], (0.5, 0.8)),
    "R": ([[_P, [(0.35, 0.54), (1, 1)]]], (0.55, 0.85)),
    "T": ([[[(0, 0), (1, 0)], [(0.5, 0), (0.5, 1)]]], (0.6, 1.0)),
    "U": ([[[(0, 0), (0, 0.6), *_arc(0.5, 0.6, 0.5, 0.4, 180, 0), (1, 0)]]], (0.6, 0.95)),
    "V": ([[[(0, 0), (0.5, 1), (1, 0)]]], (0.6, 1.0)),
    "W": ([[[(0, 0), (0.25, 1), (0.5, 0.3), (0.75, 1), (1, 0)]]], (0.9, 1.3)),
    "X": ([[[(0, 0), (1, 1)], [(1, 0), (0, 1)]]], (0.6, 1.0)),
    "Y": ([[[(0, 0), (0.5, 0.5), (1, 0)], [(0.5, 0.5), (0.5, 1)]]], (0.6, 1.0)),
    "a": (
        [
            [_bowl(0.45, 0.55, 0.4, 0.45), [(0.85, 0.1), (0.85, 1)]],
            # Double-storey, as most fonts print it: a hook over a small bowl.
            [[*_arc(0.48, 0.28, 0.38, 0.22, 200, 360), (0.86, 1)], _arc(0.5, 0.72, 0.36, 0.26, 340, 0)],
        ],
        (0.7, 1.0),
    ),
    "c": ([[_arc(0.55, 0.5, 0.45, 0.5, 310, 50)]], (0.6, 0.95)),
    "d": ([[_bowl(0.42, 0.7, 0.38, 0.3), [(0.8, 0), (0.8, 1)]]], (0.55, 0.8)),
    "e": ([[[(0.05, 0.5), (0.95, 0.5), *_arc(0.5, 0.5, 0.45, 0.5, 0, -320)]]], (0.7, 1.0)),
    "f": ([[[*_arc(0.65, 0.2, 0.25, 0.2, 340, 180), (0.4, 1)], [(0.1, 0.42), (0.8, 0.42)]]], (0.4, 0.7)),
    "h": ([[[(0.1, 0), (0.1, 1)], _hump(0.1, 0.9, 0.4)]], (0.55, 0.85)),
    "i": ([[[(0.5, 0.35), (0.5, 1)], [(0.5, 0.05), (0.5, 0.1)]]], (0.15, 0.35)),
    "j": (
        [[[(0.7, 0.35), (0.7, 0.82), *_arc(0.4, 0.82, 0.3, 0.18, 0, 160)], [(0.7, 0.05), (0.7, 0.1)]]],
        (0.3, 0.5),
    ),
    "k": ([[[(0.1, 0), (0.1, 1)], [(0.85, 0.4), (0.1, 0.72), (0.9, 1)]]], (0.5, 0.8)),
    "m": ([[[(0, 0.1), (0, 1)], _hump(0, 0.5, 0.0), _hump(0.5, 1, 0.0)]], (1.0, 1.4)),
    "n": ([[[(0.05, 0.05), (0.05, 1)], _hump(0.05, 0.95, 0.0)]], (0.7, 1.0)),
    "p": ([[[(0.1, 0.02), (0.1, 1)], _bowl(0.45, 0.3, 0.38, 0.28)]], (0.55, 0.8)),
    "r": ([[[(0.1, 0), (0.1, 1)], [(0.1, 0.35), *_arc(0.55, 0.3, 0.45, 0.25, 190, 320)]]], (0.45, 0.75)),
    "t": (
        [[[(0.4, 0), (0.4, 0.85), *_arc(0.65, 0.85, 0.25, 0.15, 180, 20)], [(0.05, 0.3), (0.85, 0.3)]]],
        (0.4, 0.7),
    ),
    "u": (
        [[[(0.05, 0), (0.05, 0.6), *_arc(0.48, 0.6, 0.43, 0.4, 180, 0)], [(0.92, 0), (0.92, 1)]]],
        (0.7, 1.0),
    ),
    "v": ([[[(0, 0), (0.5, 1), (1, 0)]]], (0.7, 1.1)),
    "w": ([[[(0, 0), (0.25, 1), (0.5, 0.35), (0.75, 1), (1, 0)]]], (1.0, 1.4)),
    "x": ([[[(0, 0), (1, 1)], [(1, 0), (0, 1)]]], (0.7, 1.1)),
    "y": (
        [
            [[(0, 0), (0.5, 0.55)], [(1, 0), (0.3, 1)]],
            [[(0, 0), (0, 0.3), *_arc(0.5, 0.3, 0.5, 0.25, 180, 0)], [(1, 0), (1, 0.8), (0.3, 1)]],
        ],
        (0.6, 0.95),
    ),
}


# Digits drawn by the same hand, as positives next to the letters: without them a discriminator
# learns "drawn by this brush" instead of "not a digit" (measured: real-world drawn digits
# flagged). Own skeletons, not ``strokes.TEMPLATES`` (the real-world set's drawn source).
DIGITS: dict[int, tuple[list[list[Stroke]], tuple[float, float]]] = {
    0: ([[_arc(0.5, 0.5, 0.45, 0.5, 260, 625)]], (0.5, 0.8)),
    1: ([[[(0.5, 0), (0.5, 1)]], [[(0.2, 0.25), (0.6, 0), (0.6, 1)]]], (0.1, 0.45)),
    2: ([[[*_arc(0.5, 0.28, 0.42, 0.28, 200, 370), (0.05, 1), (0.95, 1)]]], (0.5, 0.8)),
    3: ([[[*_arc(0.48, 0.26, 0.4, 0.26, 210, 450), *_arc(0.48, 0.74, 0.45, 0.26, 270, 510)]]], (0.45, 0.75)),
    4: ([[[(0.6, 0), (0, 0.65), (1, 0.65)], [(0.75, 0.3), (0.75, 1)]]], (0.55, 0.85)),
    5: ([[[(0.9, 0), (0.2, 0), (0.15, 0.42), *_arc(0.5, 0.68, 0.42, 0.3, 220, 500)]]], (0.5, 0.8)),
    6: ([[[(0.75, 0), (0.3, 0.35), *_arc(0.5, 0.7, 0.35, 0.3, 180, 540)]]], (0.5, 0.75)),
    7: ([[[(0.05, 0), (0.95, 0), (0.4, 1)]]], (0.5, 0.8)),
    8: ([[_arc(0.5, 0.22, 0.3, 0.22, 90, 450), _arc(0.5, 0.7, 0.42, 0.3, 270, 630)]], (0.45, 0.7)),
    9: ([[_arc(0.5, 0.3, 0.4, 0.3, 0, 360), [(0.9, 0.3), (0.85, 1)]]], (0.45, 0.75)),
}


def _random_strokes(rng: np.random.Generator) -> list[Stroke]:
    """2-4 random lines, corners and arcs in the unit square (not a letter, not a digit)."""
    out: list[Stroke] = []
    for _ in range(int(rng.integers(3, 6))):
        if rng.random() < 0.5:
            out.append([tuple(p) for p in rng.uniform(0, 1, (int(rng.integers(2, 4)), 2))])
        else:
            cx, cy, rx, ry = rng.uniform(0.2, 0.8, 2).tolist() + rng.uniform(0.1, 0.5, 2).tolist()
            a0 = rng.uniform(0, 360)
            out.append(_arc(cx, cy, rx, ry, a0, a0 + rng.uniform(40, 120)))  # never a closed 0
    return out


def _blot(rng: np.random.Generator) -> np.ndarray:
    """1-3 soft ink blots (a thumb, a wet pen): filled ellipses, blurred hard."""
    im = Image.new("L", (_SIDE, _SIDE), 0)
    d = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(1, 4))):
        cx, cy = rng.uniform(0.25, 0.75, 2) * _SIDE
        rx, ry = rng.uniform(0.05, 0.25, 2) * _SIDE
        d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=int(rng.integers(128, 256)))
    return np.asarray(im.filter(ImageFilter.GaussianBlur(rng.uniform(2, 7))), dtype=np.float32) / 255.0


def _draw(strokes: list[Stroke], aspect: float, rng: np.random.Generator) -> np.ndarray:
    """Jittered, slanted strokes with a round brush on the canvas (like ``draw_strokes``)."""
    h = rng.uniform(0.55, 0.8) * _SIDE
    w = min(h * aspect, 0.9 * _SIDE)
    slant = rng.uniform(-0.3, 0.3)
    x0, y0 = (_SIDE - w) / 2, (_SIDE - h) / 2
    width = max(1, round(rng.uniform(0.05, 0.13) * h))
    im = Image.new("L", (_SIDE, _SIDE), 0)
    d = ImageDraw.Draw(im)
    for stroke in strokes:
        pts = np.asarray(stroke, dtype=np.float64)
        a = rng.normal(0, 0.06, 4)  # a smooth warp: a hand, not a seismograph
        pts = pts + np.c_[a[0] * np.sin(np.pi * pts[:, 1] + a[1]), a[2] * np.sin(np.pi * pts[:, 0] + a[3])]
        xs = x0 + (pts[:, 0] + slant * (1 - pts[:, 1])) * w
        line = list(zip(xs.tolist(), (y0 + pts[:, 1] * h).tolist(), strict=True))
        d.line(line, fill=255, width=width, joint="curve")
        r = width / 2
        for x, y in (line[0], line[-1]):
            d.ellipse([x - r, y - r, x + r, y + r], fill=255)
    if rng.random() < 0.3:
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5)))
    return np.asarray(im, dtype=np.float32) / 255.0


def _pick(table: dict, key: object, rng: np.random.Generator) -> tuple[list[Stroke], float]:
    variants, (lo, hi) = table[key]
    return variants[int(rng.integers(len(variants)))], float(rng.uniform(lo, hi))


def make(
    n_letters: int, n_random: int, n_digits: int, n_blots: int = 0, seed: int = SEED
) -> tuple[np.ndarray, np.ndarray]:
    """(n, 784) images normalised like an upload, and (n,) labels: 0-9 a drawn digit (positives),
    10 + i the i-th letter of ``sorted(TEMPLATES)``, -1 a random composition of strokes, -2 blots."""
    rng = np.random.default_rng(seed)
    letters = sorted(TEMPLATES)
    out: list[np.ndarray] = []
    labels: list[int] = []
    for i in range(n_letters + n_random + n_digits + n_blots):
        if i < n_letters:
            label = 10 + i % len(letters)
            strokes, aspect = _pick(TEMPLATES, letters[label - 10], rng)
        elif i < n_letters + n_random:
            label, strokes, aspect = -1, _random_strokes(rng), float(rng.uniform(0.4, 1.2))
        elif i < n_letters + n_random + n_digits:
            label = i % 10
            strokes, aspect = _pick(DIGITS, label, rng)
        else:
            label, strokes = -2, []
        try:
            ink = _blot(rng) if label == -2 else _draw(strokes, aspect, rng)
            out.append(normalise_array(ink).ravel())
        except BlankImage:  # cannot happen with a brush >= 1 px; kept for safety
            continue
        labels.append(label)
    return np.asarray(out, np.float32), np.asarray(labels, np.int64)
