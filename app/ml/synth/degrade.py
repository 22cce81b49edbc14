"""The degradations of real uploads applied to an ink map (1 = ink), and the
encoding of the result as the PNG/JPEG bytes a user would send."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter


def ink_image(ink: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(ink, 0, 1) * 255).astype(np.uint8))


def image_ink(im: Image.Image) -> np.ndarray:
    return np.asarray(im, dtype=np.float32) / 255.0


def rotate_shear(
    ink: np.ndarray, rng: np.random.Generator, max_deg: float = 15, max_shear: float = 0.3
) -> np.ndarray:
    h, w = ink.shape
    pad = int(0.25 * max(h, w))
    im = ink_image(np.pad(ink, pad))
    sh = rng.uniform(-max_shear, max_shear)
    cx, cy = im.width / 2, im.height / 2
    im = im.transform(im.size, Image.Transform.AFFINE, (1, sh, -sh * cy, 0, 1, 0), Image.Resampling.BILINEAR)
    im = im.rotate(rng.uniform(-max_deg, max_deg), Image.Resampling.BILINEAR, center=(cx, cy))
    return image_ink(im)


def off_centre(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Put the digit small in a corner region of a larger canvas."""
    h, w = ink.shape
    k = rng.uniform(2.0, 3.5)
    H, W = int(h * k), int(w * k)
    out = np.zeros((H, W), np.float32)
    y = (
        int(rng.uniform(0, 1) ** 0.5 * (H - h))
        if rng.random() < 0.5
        else int((1 - rng.uniform(0, 1) ** 0.5) * (H - h))
    )
    x = (
        int(rng.uniform(0, 1) ** 0.5 * (W - w))
        if rng.random() < 0.5
        else int((1 - rng.uniform(0, 1) ** 0.5) * (W - w))
    )
    out[y : y + h, x : x + w] = ink
    return out


def thickness(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Thicken or thin the strokes by a few percent of the digit's size."""
    h, w = ink.shape
    k = max(3, int(round(max(h, w) * rng.uniform(0.025, 0.06))) | 1)
    im = ink_image(ink)
    if rng.random() < 0.5:
        thin = image_ink(im.filter(ImageFilter.MinFilter(k)))
        if thin.sum() > 0.4 * ink.sum():  # thinner, never broken apart
            return thin
    return image_ink(im.filter(ImageFilter.MaxFilter(k)))


def compose(
    ink: np.ndarray,
    rng: np.random.Generator,
    *,
    invert: bool = False,
    colour: bool = False,
    lighting: float = 0.0,
    noise: float = 0.0,
    blur: float = 0.0,
) -> Image.Image:
    """Ink map -> picture: paper and ink tones (or colours), lighting gradient,
    blur and sensor noise. Returns an RGB or L image."""
    if blur:
        ink = image_ink(ink_image(ink).filter(ImageFilter.GaussianBlur(blur)))
    h, w = ink.shape
    if colour:
        paper = rng.uniform(0.6, 1.0, 3)
        pen = rng.uniform(0.0, 0.45, 3)
        if rng.random() < 0.3:
            pen[rng.integers(3)] = rng.uniform(0.5, 0.8)  # a red / green / blue pen
        if invert:
            paper, pen = 1 - paper, 1 - pen
    else:
        paper = np.full(3, rng.uniform(0.82, 1.0))
        pen = np.full(3, rng.uniform(0.0, 0.25))
        if invert:
            paper, pen = 1 - paper, 1 - pen
    img = paper[None, None] * (1 - ink[..., None]) + pen[None, None] * ink[..., None]
    if lighting:
        ang = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[:h, :w].astype(np.float32)
        g = (np.cos(ang) * (xx / w - 0.5) + np.sin(ang) * (yy / h - 0.5)) * 2  # -1..1 across
        shade = 1 - lighting * (g + 1) / 2
        img = img * shade[..., None]
    if noise:
        img = img + rng.normal(0, noise, img.shape[:2])[..., None]
    img = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    if colour:
        return Image.fromarray(img, "RGB")
    return Image.fromarray(img[..., 0], "L")


def low_res(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A low-resolution scan scaled up again."""
    small = int(rng.integers(10, 19))
    scale = small / max(im.size)
    tiny = im.resize(
        (max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.BOX
    )
    up = int(rng.integers(4, 12))
    method = Image.Resampling.NEAREST if rng.random() < 0.5 else Image.Resampling.BILINEAR
    return tiny.resize((tiny.width * up, tiny.height * up), method)


def encode(im: Image.Image, fmt: str, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        im.save(buf, "JPEG", quality=quality)
    else:
        im.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def fit_side(ink: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink big sources so stored files stay small (uploads are shrunk too)."""
    if max(ink.shape) <= max_side:
        return ink
    s = max_side / max(ink.shape)
    return image_ink(
        ink_image(ink).resize(
            (max(1, round(ink.shape[1] * s)), max(1, round(ink.shape[0] * s))), Image.Resampling.BOX
        )
    )


def degrade(kind: str, ink: np.ndarray, rng: np.random.Generator) -> bytes:
    """One upload of ``kind`` made from an ink map: the named degradation, PNG
    unless the kind (or a coin) says JPEG."""
    ink = fit_side(ink, 120)
    opts: dict = {}
    fmt, quality = ("PNG", 95) if rng.random() < 0.7 else ("JPEG", int(rng.integers(80, 96)))
    if kind == "rotated_sheared":
        ink = rotate_shear(ink, rng)
    elif kind == "off_centre":
        ink = off_centre(ink, rng)
    elif kind == "thick_thin":
        ink = thickness(ink, rng)
    elif kind == "light_on_dark":
        opts["invert"] = True
    elif kind == "blur_noise":
        fmt, quality = "JPEG", int(rng.integers(70, 92))  # photos: noise does not compress in PNG
        opts["blur"] = rng.uniform(0.5, 2.0) * max(ink.shape) / 80
        opts["noise"] = rng.uniform(0.04, 0.12)
    elif kind == "uneven_lighting":
        fmt, quality = "JPEG", int(rng.integers(70, 92))
        opts["lighting"] = rng.uniform(0.25, 0.5)
        opts["noise"] = 0.02
    elif kind == "jpeg":
        fmt, quality = "JPEG", int(rng.integers(8, 35))
    elif kind == "colour":
        opts["colour"] = True
        opts["invert"] = rng.random() < 0.3
    im = compose(ink, rng, **opts)
    if kind == "low_res":
        im = low_res(im, rng)
    return encode(im, fmt, quality)

