"""Images for the tests and the benchmarks, made in memory: MNIST holdout digits as ordinary image
files, canvas-style drawn digits, hand-built PNGs (one chunk writer) and decode bombs, and the
multipart body a predict request carries."""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_bytes(img: Image.Image, fmt: str = "PNG", **save: object) -> bytes:
    """`img` encoded as `fmt` (PNG unless told)."""
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save)
    return buf.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def holdout_digit(index: int) -> tuple[np.ndarray, int]:
    """The holdout set's digit `index` as (28x28 floats in [0, 1], label)."""
    from app.ml.data import load_holdout

    X, y = load_holdout()
    return X[index].reshape(28, 28), int(y[index])


def mnist_as_photo(pixels: np.ndarray, size: int = 140) -> bytes:
    """A holdout digit as a user would send it: dark ink on white, scaled up, RGB PNG."""
    ink = (np.clip(pixels, 0, 1) * 255).astype(np.uint8)
    img = Image.fromarray(255 - ink, mode="L").resize((size, size), Image.Resampling.BILINEAR).convert("RGB")
    return png_bytes(img)


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


def drawn_one(size: int = 300, offset: tuple[int, int] = (60, -40)) -> bytes:
    """A '1' drawn like on a canvas: thick black stroke on white, off-centre (RGB PNG)."""
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    cx, cy = size // 2 + offset[0], size // 2 + offset[1]
    draw.line([(cx - 12, cy - 70), (cx, cy - 80), (cx + 2, cy + 70)], fill="black", width=18, joint="curve")
    return png_bytes(img)


def blank_png(size: int = 64) -> bytes:
    return png_bytes(Image.new("RGB", (size, size), "white"))


def bomb_png(width: int = 100_000, height: int = 100_000, idat: bytes = b"\x00" * 64) -> bytes:
    """A tiny PNG whose header declares huge dimensions (decompression-bomb shape)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunks = png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(idat)) + png_chunk(b"IEND", b"")
    return PNG_SIGNATURE + chunks


def png_of_side(side: int) -> bytes:
    """A real (decodable) grayscale PNG of side x side white pixels, compressed to almost nothing."""
    row = b"\x00" + b"\xff" * side
    idat = zlib.compress(row * side, 9)
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def progressive_jpeg_bomb(side: int = 5000, extra_scans: int = 2000) -> bytes:
    """A progressive JPEG whose last refinement scan is repeated `extra_scans` times (libjpeg
    re-processes the whole coefficient buffer for each)."""
    buf = io.BytesIO()
    Image.new("L", (side, side), 255).save(buf, "JPEG", progressive=True, quality=50)
    data = buf.getvalue()
    last = data.rindex(b"\xff\xda")
    scan = data[last:-2]  # up to, not including, EOI
    return data[:-2] + scan * extra_scans + b"\xff\xd9"


def webp_bomb(side: int = 5000) -> bytes:
    """A lossless WEBP of a few dozen bytes declaring side x side pixels."""
    buf = io.BytesIO()
    Image.new("L", (side, side), 255).save(buf, "WEBP", lossless=True, method=0)
    return buf.getvalue()


def multipart(
    files: list[tuple[str, bytes]], field: str = "file", boundary: str | None = None
) -> tuple[bytes, str]:
    """A multipart/form-data body with one `field` part per (filename, PNG bytes), and its
    Content-Type: what a predict request sends (a random boundary unless one is given)."""
    boundary = boundary or "----digitserve" + os.urandom(8).hex()
    parts = []
    for name, data in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        parts.append(head + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"
