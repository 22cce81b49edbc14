"""Test images: MNIST holdout digits rendered as ordinary image files, and drawn digits."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw


def png_bytes(img: Image.Image, fmt: str = "PNG", **save: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save)
    return buf.getvalue()


def holdout_digit(index: int) -> tuple[np.ndarray, int]:
    from app.ml.data import load_holdout

    X, y = load_holdout()
    return X[index].reshape(28, 28), int(y[index])


def mnist_as_photo(pixels: np.ndarray, size: int = 140) -> bytes:
    """A holdout digit as a user would send it: dark ink on white, scaled up, RGB PNG."""
    ink = (np.clip(pixels, 0, 1) * 255).astype(np.uint8)
    img = Image.fromarray(255 - ink, mode="L").resize((size, size), Image.Resampling.BILINEAR).convert("RGB")
    return png_bytes(img)


def drawn_one(size: int = 300, offset: tuple[int, int] = (60, -40)) -> bytes:
    """A '1' drawn like on a canvas: thick black stroke on white, off-centre."""
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    cx, cy = size // 2 + offset[0], size // 2 + offset[1]
    draw.line([(cx - 12, cy - 70), (cx, cy - 80), (cx + 2, cy + 70)], fill="black", width=18, joint="curve")
    return png_bytes(img)


def blank_png(size: int = 64) -> bytes:
    return png_bytes(Image.new("RGB", (size, size), "white"))


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares huge dimensions (decompression-bomb shape)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
