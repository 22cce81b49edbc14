"""The decoding budget of an untrusted upload, checked before any pixel is decoded.

A digit needs a few hundred pixels a side, so the budget is sized for digits, not for photos of
walls:

- declared pixels: at most ``max_pixels`` (config MAX_IMAGE_PIXELS, 4096x4096 by default) for
  baseline JPEG, which is decoded at 1/2-1/8 scale in the DCT domain (draft mode) and streams
  through libjpeg with little memory; at most ``FULL_DECODE_MAX_PIXELS`` (2048x2048) for every
  format decoded at full size (PNG, WEBP, BMP, GIF, TIFF) and for progressive JPEG, whose
  decoder keeps the coefficients of the whole image in memory whatever the output scale;
- progressive JPEG scans: at most ``MAX_JPEG_SCANS``; each scan re-reads the whole coefficient
  buffer (about 12 ms per scan at 5000x5000), and real encoders write ten or so;
- CPU time follows from the two: the worst image inside the budget decodes in about 0.1 s here
  (docs/reliability.md);
- concurrency: at most ``DECODE_SLOTS`` decodes run at once per process, so a burst of large
  uploads queues instead of multiplying the memory of one decode.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from app.ml.errors import ImageError, ImageTooLarge

FULL_DECODE_MAX_PIXELS = 2048 * 2048
MAX_JPEG_SCANS = 40
DECODE_SLOTS = max(1, int(os.environ.get("DECODE_SLOTS", "2")))
DECODE_WAIT_SECONDS = 10.0

_slots = threading.BoundedSemaphore(DECODE_SLOTS)

_SOS = b"\xff\xda"  # start of scan; cannot occur inside entropy-coded data (0xFF is stuffed)
_SOF_PROGRESSIVE = (b"\xff\xc2", b"\xff\xc6", b"\xff\xca", b"\xff\xce")


class DecoderBusy(ImageError):
    """Too many images are being decoded right now; try again shortly."""

    http_status = 503
    code = "decoder_busy"


def jpeg_scan_count(data: bytes) -> int:
    """Start-of-scan markers in the file (an embedded EXIF thumbnail adds its own one or two)."""
    return data.count(_SOS)


def is_progressive_jpeg(data: bytes) -> bool:
    return any(marker in data[:65536] for marker in _SOF_PROGRESSIVE)


def check_budget(fmt: str, size: tuple[int, int], data: bytes, max_pixels: int) -> None:
    """Raise ImageTooLarge when decoding `data` would exceed the budget; reads headers only."""
    w, h = size
    pixels = w * h
    if pixels > max_pixels:
        raise ImageTooLarge(f"{w}x{h} = {pixels} pixels exceeds the limit of {max_pixels}")
    if fmt == "JPEG":
        scans = jpeg_scan_count(data)
        if scans > MAX_JPEG_SCANS:
            raise ImageTooLarge(f"JPEG has {scans} scans; at most {MAX_JPEG_SCANS} are decoded")
        if not is_progressive_jpeg(data):
            return  # baseline: decoded at reduced size (draft), streaming
    full = min(max_pixels, FULL_DECODE_MAX_PIXELS)
    if pixels > full:
        kind = "progressive JPEG" if fmt == "JPEG" else fmt
        raise ImageTooLarge(
            f"{w}x{h} {kind} = {pixels} pixels exceeds the limit of {full} for images decoded at "
            "full size (a digit needs a few hundred pixels a side)"
        )


@contextmanager
def decode_slot(timeout: float = DECODE_WAIT_SECONDS) -> Iterator[None]:
    """Hold one of the process's decode slots while decoding."""
    if not _slots.acquire(timeout=timeout):
        raise DecoderBusy()
    try:
        yield
    finally:
        _slots.release()
