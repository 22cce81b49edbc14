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
SIZE = 28
BOX = 20  # MNIST: digit fitted in 20x20, then centred by mass in 28x28
CENTRE = 14.0  # measured centre of mass of the MNIST arrays (pixel index units)
NOISE_THRESHOLD = 0.15  # ink below this (after contrast stretch) is background
MIN_CONTRAST = 0.08  # ink/background difference below this means "blank"
WORK_SIDE = 256  # big uploads are shrunk to this before numpy work (speed)

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

    The background is estimated from the border: if it is light the digit is
    dark-on-light and the picture is inverted. The background level is then
    subtracted and contrast stretched so photos of paper work too.
    """
    border = np.concatenate((gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]))
    bg = float(np.median(border))
    if bg > 0.5:
        ink = 1.0 - gray
        bg = 1.0 - bg
    else:
        ink = gray
    peak = float(ink.max())
    if peak - bg < MIN_CONTRAST:
        return np.zeros_like(ink)
    return np.clip((ink - bg) / (peak - bg), 0.0, 1.0)


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
