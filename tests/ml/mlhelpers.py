"""Image helpers for the ml tests."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw


def png_bytes(im: Image.Image, fmt: str = "PNG", **save: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **save)
    return buf.getvalue()


def draw_digit(
    digit: str, *, size: int = 300, offset: tuple[int, int] = (-60, -50), width: int = 22
) -> Image.Image:
    """Black-on-white canvas drawing of "1", "7" or "0", off-centre."""
    im = Image.new("L", (size, size), 255)
    d = ImageDraw.Draw(im)
    ox, oy = size // 2 + offset[0], size // 2 + offset[1]
    if digit == "1":
        d.line([(ox - 12, oy - 60), (ox + 4, oy - 80), (ox + 4, oy + 80)], fill=0, width=width, joint="curve")
    elif digit == "7":
        d.line(
            [(ox - 50, oy - 75), (ox + 50, oy - 75), (ox - 10, oy + 80)], fill=0, width=width, joint="curve"
        )
    elif digit == "0":
        d.ellipse([ox - 45, oy - 75, ox + 45, oy + 75], outline=0, width=width)
    else:
        raise ValueError(digit)
    return im


def centre_of_mass(a: np.ndarray) -> tuple[float, float]:
    ys, xs = np.mgrid[: a.shape[0], : a.shape[1]]
    m = a.sum()
    return float((a * ys).sum() / m), float((a * xs).sum() / m)
