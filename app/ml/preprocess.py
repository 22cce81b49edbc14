"""Image -> 28x28 MNIST-style array. One code path for training, serving and
retraining, so the model always sees the same distribution.

``preprocess_image`` decodes untrusted bytes safely; ``normalise_array`` is
the shared tail (threshold, crop, scale into 20x20, centre of mass at the
centre of 28x28) that is also applied to the MNIST training arrays.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from app.ml.codec import IMAGE_SIDE
from app.ml.decode_budget import DecoderBusy, check_budget, decode_slot
from app.ml.errors import (
    BlankImage,
    EmptyImage,
    ImageTooLarge,
    UnreadableImage,
    UnsupportedFormat,
)

ALLOWED_FORMATS = frozenset({"PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP"})
DEFAULT_MAX_PIXELS = 4096 * 4096
SIZE = IMAGE_SIDE
BOX = 20  # MNIST: digit fitted in 20x20, then centred by mass in 28x28
CENTRE = 14.0  # measured centre of mass of the MNIST arrays (pixel index units)
NOISE_THRESHOLD = 0.15  # ink below this (after contrast stretch) is background
MIN_CONTRAST = 0.08  # ink/background difference below this means "blank"
WORK_SIDE = 256  # big uploads are shrunk to this before numpy work (speed)
CLEAN_SIDE = 80  # ink maps are box-reduced towards this before cleaning (speed, noise)
CLEAN_SPREAD = 0.01  # border spread (MAD) below this: a clean canvas, no noise cleaning
STROKE_LEVEL = 0.35  # smoothed ink below this share of the peak is not near a stroke

# Pillow's own bomb guard, lowered to our default so a huge declared size
# fails inside Image.open before any pixel is decoded. Only ever lowered.
if Image.MAX_IMAGE_PIXELS is None or Image.MAX_IMAGE_PIXELS > DEFAULT_MAX_PIXELS:
    Image.MAX_IMAGE_PIXELS = DEFAULT_MAX_PIXELS
# Past the guard, Pillow only warns (and decodes anyway) up to twice the limit: make it refuse.
warnings.simplefilter("error", Image.DecompressionBombWarning)

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
# Anything Pillow may raise on malformed input; mapped to UnreadableImage.
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    AttributeError,
    EOFError,
    ZeroDivisionError,
    OverflowError,
    MemoryError,
    RuntimeError,
    struct.error,
    zlib.error,
)


def preprocess_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode image bytes into a (28, 28) float32 array in [0, 1], white ink
    on black like MNIST. Raises only :class:`app.ml.errors.ImageError`.

    ``max_pixels`` above ``2 * DEFAULT_MAX_PIXELS`` is capped by Pillow's
    process-wide guard (set at import), which also answers ImageTooLarge.
    """
    if not data:
        raise EmptyImage()
    try:
        gray, alpha = _decode(bytes(data), max_pixels)
    except (ImageTooLarge, UnsupportedFormat, UnreadableImage, DecoderBusy):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(f"image exceeds the pixel limit: {exc}") from None
    except _DECODE_ERRORS as exc:
        raise UnreadableImage(f"cannot decode image: {type(exc).__name__}") from None
    ink = ink_from_gray(gray)
    try:
        return normalise_array(ink)
    except BlankImage:
        # Light strokes on a transparent canvas vanish when flattened on
        # white; the alpha channel alone still holds the drawing.
        if alpha is not None and float(alpha.max() - alpha.min()) > MIN_CONTRAST:
            return normalise_array(alpha)
        raise


def _decode(data: bytes, max_pixels: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (gray, alpha) float32 in [0, 1]; gray has alpha flattened on white."""
    try:
        im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise UnreadableImage("data is not a recognised image") from None
    if im.format not in ALLOWED_FORMATS:
        raise UnsupportedFormat(f"format {im.format} not allowed (use {', '.join(sorted(ALLOWED_FORMATS))})")
    w, h = im.size
    # Declared size, scans and format are known from the headers: refuse before decoding pixels.
    check_budget(im.format, im.size, data, max_pixels)
    if w == 0 or h == 0:
        raise UnreadableImage("image has zero size")
    with decode_slot():
        if im.format == "JPEG":
            im.draft("L", (WORK_SIDE, WORK_SIDE))  # DCT-domain downscale: much cheaper
        # Animated GIF/WEBP/TIFF: Image.open leaves us on frame 0 and only it is decoded.
        im.load()
        im = ImageOps.exif_transpose(im) or im
        if max(im.size) > WORK_SIDE:
            im.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)

    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float32)
        top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        return np.clip(arr / top, 0.0, 1.0), None
    if (
        mode in _ALPHA_MODES
        or (mode == "P" and "transparency" in im.info)
        or ("transparency" in im.info and mode in ("L", "RGB"))
    ):
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[..., 3]
        gray = rgba[..., :3] @ _LUMA
        return gray * alpha + (1.0 - alpha), alpha
    if mode != "L":
        im = im.convert("L")
    return np.asarray(im, dtype=np.float32) / 255.0, None


def ink_from_gray(gray: np.ndarray) -> np.ndarray:
    """Turn a grayscale picture (1 = white) into an ink map (1 = ink).

    Photos and scans are not clean canvases, so before the MNIST normalisation:

    * big pictures are box-reduced to at most ``CLEAN_SIDE`` pixels a side (the digit
      ends up 20 px tall anyway; averaging also lowers sensor noise);
    * polarity: the background is estimated from the borders' medians; a light
      one means dark-on-light, which is inverted;
    * uneven lighting: a plane through the four borders' medians is subtracted;
    * contrast is stretched to the ink's peak, measured on a 3x3-smoothed copy
      so single noisy pixels do not set it;
    * noise (only when the border shows any): pixels far from any real stroke
      (smoothed ink below ``STROKE_LEVEL`` of the peak, dilated a little) are
      zeroed, so specks do not widen the crop.
    """
    g = np.asarray(gray, dtype=np.float32)
    f = -(-max(g.shape) // CLEAN_SIDE)  # ceil: at most CLEAN_SIDE px on a side
    if f >= 2:
        h, w = (g.shape[0] // f) * f, (g.shape[1] // f) * f
        if h and w:
            g = _box_mean(g[:h, :w], f)
    sides = [_median(g[0]), _median(g[-1]), _median(g[:, 0]), _median(g[:, -1])]
    if sum(sides) > 2.0:  # light background: dark-on-light, invert
        ink = 1.0 - g
        sides = [1.0 - v for v in sides]
    else:
        ink = g.copy()
    plane, spread = _background_plane(ink, *sides)
    ink -= plane
    if spread < CLEAN_SPREAD or min(ink.shape) < 3:
        # A clean canvas (the common case): no noise to mask, skip the filters.
        peak = float(ink.max())
        if peak < MIN_CONTRAST:
            return np.zeros_like(ink)
        return np.clip(ink / peak, 0.0, 1.0)
    smooth = ndimage.uniform_filter(ink, size=3, mode="nearest")
    peak = float(smooth.max())
    if peak < MIN_CONTRAST:
        return np.zeros_like(ink)
    ink = np.clip(ink / peak, 0.0, 1.0)
    ink *= ndimage.maximum_filter(smooth >= STROKE_LEVEL * peak, size=3, mode="constant")
    return ink


def _box_mean(g: np.ndarray, f: int) -> np.ndarray:
    """Mean of each f x f block. Adding the f*f strided views is ~9x faster here than
    ``reshape(...).mean(axis=(1, 3))`` (0.016 against 0.14 ms on a 140x140 upload; same values
    to float32 rounding): a strided mean over two axes is numpy's slow path."""
    out = g[::f, ::f].copy()
    for i in range(f):
        for j in range(f):
            if i or j:
                out += g[i::f, j::f]
    out *= np.float32(1.0 / (f * f))
    return out


def _median(a: np.ndarray) -> float:
    # np.median's dispatch costs more than sorting a border's few hundred values.
    s = np.sort(a, axis=None)
    n = s.size
    return float(s[n // 2]) if n % 2 else float(0.5 * (s[n // 2 - 1] + s[n // 2]))


def _background_plane(
    ink: np.ndarray, top: float, bottom: float, left: float, right: float
) -> tuple[np.ndarray, float]:
    """The background as a plane through the medians of the four borders (a
    digit rarely covers half of any border; a light gradient is linear enough
    there), lifted by the border's spread so sensor noise is not ink.
    Returns (plane, spread)."""
    h, w = ink.shape
    sy = (bottom - top) / max(h - 1, 1)
    sx = (right - left) / max(w - 1, 1)
    yy = (np.arange(h, dtype=np.float32) - (h - 1) / 2)[:, None] * sy
    xx = (np.arange(w, dtype=np.float32) - (w - 1) / 2)[None, :] * sx
    plane = yy + xx
    border = np.concatenate(
        (ink[0] - plane[0], ink[-1] - plane[-1], ink[:, 0] - plane[:, 0], ink[:, -1] - plane[:, -1])
    )
    level = _median(border)
    spread = _median(np.abs(border - level))
    return plane + (level + 2.0 * spread), spread


def normalise_array(ink: np.ndarray) -> np.ndarray:
    """MNIST normalisation of an ink map (any 2-D shape, 1 = ink) to (28, 28).

    Zero faint noise, crop to the ink's bounding box, scale to fit 20x20
    keeping the aspect ratio, then place it so the centre of mass is at the
    centre of the 28x28 field. Raises BlankImage when there is no ink.
    """
    a = np.asarray(ink, dtype=np.float32)
    if a.ndim == 1 and a.size == SIZE * SIZE:
        a = a.reshape(SIZE, SIZE)
    a = np.where(a >= NOISE_THRESHOLD, a, 0.0).astype(np.float32, copy=False)
    rows = np.flatnonzero(a.any(axis=1))
    if rows.size == 0:
        raise BlankImage()
    cols = np.flatnonzero(a.any(axis=0))
    a = a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = a.shape
    scale = BOX / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    if (nh, nw) != (h, w):
        # Mode "F" keeps float precision; BILINEAR antialiases when shrinking.
        a = np.asarray(
            Image.fromarray(a).resize((nw, nh), Image.Resampling.BILINEAR),
            dtype=np.float32,
        )
    a = np.clip(a, 0.0, None)
    peak = float(a.max())
    if peak <= 0.0:
        raise BlankImage()
    a /= peak
    mass = a.sum()
    cy = float(np.arange(nh, dtype=np.float32) @ a.sum(axis=1)) / mass
    cx = float(np.arange(nw, dtype=np.float32) @ a.sum(axis=0)) / mass
    # Clamp so the whole digit stays in frame (it is at most 20 px wide).
    top = min(max(round(CENTRE - cy), 0), SIZE - nh)
    left = min(max(round(CENTRE - cx), 0), SIZE - nw)
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    out[top : top + nh, left : left + nw] = a
    return out


def normalise_batch(X: np.ndarray) -> np.ndarray:
    """``normalise_array`` over rows of (n, 784); blank rows stay blank."""
    X = np.asarray(X, dtype=np.float32).reshape(-1, SIZE * SIZE)
    out = np.zeros_like(X)
    for i, row in enumerate(X):
        try:
            out[i] = normalise_array(row.reshape(SIZE, SIZE)).ravel()
        except BlankImage:
            pass
    return out
