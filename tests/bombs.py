"""Decode bombs of issue 13 (item 2), built in memory: shared by the tests and bench/hostile.py."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


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


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_of_side(side: int) -> bytes:
    """A real (decodable) grayscale PNG of side x side white pixels, compressed to almost nothing."""
    row = b"\x00" + b"\xff" * side
    idat = zlib.compress(row * side, 9)
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    chunks = _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks
