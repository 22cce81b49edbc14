"""preprocess_image: normalisation of real-world uploads and its error contract."""

from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from app.ml import errors
from app.ml.preprocess import normalise_array, normalise_batch, preprocess_image
from tests.factories import centre_of_mass, draw_digit, png_bytes, png_chunk


def _check_mnist_like(a: np.ndarray) -> None:
    assert a.shape == (28, 28) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() == pytest.approx(1.0)
    # Inverted to white-on-black: the border is background (centring by mass may
    # let a stroke touch one edge, as in MNIST itself).
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    assert border.sum() < 3.0 and a[[0, 0, -1, -1], [0, -1, 0, -1]].max() == 0.0
    assert a.mean() < 0.3
    rows = np.flatnonzero(a.any(axis=1))
    cols = np.flatnonzero(a.any(axis=0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 21  # fitted in the 20x20 box
    cy, cx = centre_of_mass(a)
    assert abs(cy - 14) <= 1.0 and abs(cx - 14) <= 1.0


@pytest.mark.parametrize("digit", ["1", "7", "0"])
@pytest.mark.parametrize("offset", [(-60, -50), (70, 40)])
def test_canvas_drawing_is_centred_inverted_and_recognised(digit, offset, v2_model):
    a = preprocess_image(png_bytes(draw_digit(digit, offset=offset)))
    _check_mnist_like(a)
    assert v2_model.predict(a)[0] == int(digit)


def test_position_on_canvas_does_not_matter():
    a = preprocess_image(png_bytes(draw_digit("7", offset=(-80, -60))))
    b = preprocess_image(png_bytes(draw_digit("7", offset=(60, 50))))
    assert np.abs(a - b).mean() < 0.02


def test_rgba_transparent_background_matches_opaque():
    opaque = draw_digit("7")
    ink = np.asarray(opaque) < 128
    rgba = np.zeros((*ink.shape, 4), np.uint8)  # transparent black background
    rgba[ink] = (20, 20, 20, 255)  # dark strokes
    a = preprocess_image(png_bytes(Image.fromarray(rgba, "RGBA")))
    b = preprocess_image(png_bytes(opaque))
    _check_mnist_like(a)
    assert np.abs(a - b).mean() < 0.02


def test_light_strokes_on_transparent_canvas_use_alpha():
    ink = np.asarray(draw_digit("1")) < 128
    rgba = np.zeros((*ink.shape, 4), np.uint8)
    rgba[ink] = (255, 255, 255, 255)  # white strokes vanish when flattened on white
    a = preprocess_image(png_bytes(Image.fromarray(rgba, "RGBA")))
    _check_mnist_like(a)


def test_white_on_black_is_not_inverted():
    im = Image.eval(draw_digit("7"), lambda v: 255 - v)
    a = preprocess_image(png_bytes(im))
    b = preprocess_image(png_bytes(draw_digit("7")))
    assert np.abs(a - b).mean() < 0.01


def test_exif_orientation_is_applied():
    upright = draw_digit("7").convert("RGB")
    # Orientation 6 = "rotate 90 CW to display": store the pixels rotated CCW.
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    a = preprocess_image(png_bytes(stored, "JPEG", exif=exif, quality=95))
    b = preprocess_image(png_bytes(upright, "JPEG", quality=95))
    no_exif = preprocess_image(png_bytes(stored, "JPEG", quality=95))
    assert np.abs(a - b).mean() < 0.03
    assert np.abs(no_exif - b).mean() > 3 * np.abs(a - b).mean()


def test_palette_gif_and_first_frame_of_animation():
    seven = draw_digit("7").convert("P")
    one = draw_digit("1").convert("P")
    buf = io.BytesIO()
    seven.save(buf, "GIF", save_all=True, append_images=[one], duration=100, loop=0)
    animated = buf.getvalue()
    assert Image.open(io.BytesIO(animated)).n_frames == 2
    a = preprocess_image(animated)
    ref = preprocess_image(png_bytes(draw_digit("7")))
    assert np.abs(a - ref).mean() < 0.01


def test_palette_png_with_transparency():
    im = draw_digit("1").convert("P")
    a = preprocess_image(png_bytes(im, transparency=255))  # white index transparent
    _check_mnist_like(a)


def test_16bit_grayscale_png():
    ref8 = np.asarray(draw_digit("7"), dtype=np.uint16)
    im16 = Image.fromarray(ref8 * 257)  # full 16-bit range
    assert im16.mode.startswith("I")
    a = preprocess_image(png_bytes(im16))
    b = preprocess_image(png_bytes(draw_digit("7")))
    assert np.abs(a - b).mean() < 0.01


@pytest.mark.parametrize("fmt", ["JPEG", "BMP", "TIFF", "WEBP", "GIF"])
def test_all_allowed_formats_decode(fmt):
    im = draw_digit("1").convert("RGB")
    _check_mnist_like(preprocess_image(png_bytes(im, fmt)))


def test_large_photo_like_image_is_handled():
    im = draw_digit("7", size=300).resize((2400, 2400)).convert("RGB")
    im = Image.blend(im, Image.new("RGB", im.size, (200, 190, 170)), 0.35)  # greyish paper
    a = preprocess_image(png_bytes(im, "JPEG", quality=80))
    _check_mnist_like(a)


# ------------------------------------------------------------------ errors


def _raises(data: bytes, cls: type[errors.ImageError], status: int, **kw: object) -> errors.ImageError:
    with pytest.raises(cls) as info:
        preprocess_image(data, **kw)
    assert info.value.http_status == status
    assert str(info.value)
    return info.value


def test_empty_bytes():
    _raises(b"", errors.EmptyImage, 400)


def test_random_bytes():
    _raises(np.random.default_rng(0).bytes(2000), errors.UnreadableImage, 415)


def test_truncated_png():
    data = png_bytes(draw_digit("7"))
    _raises(data[: len(data) // 2], errors.UnreadableImage, 415)


@pytest.mark.parametrize("fmt", ["PPM", "ICO"])
def test_decodable_but_not_allowed_format(fmt):
    data = png_bytes(draw_digit("7").convert("RGB").resize((64, 64)), fmt)
    assert Image.open(io.BytesIO(data)).format == fmt  # Pillow could decode it
    _raises(data, errors.UnsupportedFormat, 415)


def test_decompression_bomb_header_is_refused_cheaply():
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + png_chunk(b"IEND", b"")
    )
    assert len(data) < 200
    t0 = time.perf_counter()
    _raises(data, errors.ImageTooLarge, 413)
    assert time.perf_counter() - t0 < 0.5  # nothing was decoded


def test_max_pixels_limit():
    _raises(png_bytes(draw_digit("7")), errors.ImageTooLarge, 413, max_pixels=200 * 200)


@pytest.mark.parametrize("colour", [255, 0, 128])
def test_blank_image(colour):
    _raises(png_bytes(Image.new("L", (100, 100), colour)), errors.BlankImage, 422)


def test_faint_noise_only_is_blank():
    rng = np.random.default_rng(1)
    noise = (250 - rng.integers(0, 6, (120, 120))).astype(np.uint8)
    _raises(png_bytes(Image.fromarray(noise)), errors.BlankImage, 422)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about mangled TIFF tags
def test_corrupted_images_only_raise_image_errors():
    """Byte-flipped files in every allowed format: an ImageError or a result, never
    anything else out of Pillow."""
    rng = np.random.default_rng(42)
    base = draw_digit("7").resize((64, 64)).convert("RGB")
    outcomes = set()
    for fmt in ["PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP"]:
        good = bytearray(png_bytes(base, fmt))
        for _ in range(60):
            data = bytearray(good)
            for pos in rng.integers(0, len(data), size=int(rng.integers(1, 8))):
                data[pos] = int(rng.integers(0, 256))
            if rng.random() < 0.3:
                data = data[: int(rng.integers(1, len(data)))]
            try:
                out = preprocess_image(bytes(data))
                assert out.shape == (28, 28)
                outcomes.add("ok")
            except errors.ImageError as exc:
                outcomes.add(type(exc).__name__)
    assert "ok" in outcomes and "UnreadableImage" in outcomes


# ------------------------------------------------------------------ shared normalisation


def test_normalisation_barely_changes_mnist(split):
    raw = split.X_holdout  # already normalised by load_split; renormalising is ~idempotent
    again = normalise_batch(raw)
    assert np.abs(again - raw).mean() < 0.005


def test_mnist_digit_as_upload_matches_training_distribution(split):
    """An MNIST digit rendered as a big black-on-white PNG comes back like the
    training array, so served images and training data share a distribution."""
    for i in range(0, 200, 20):
        digit = split.X_holdout[i].reshape(28, 28)
        im = Image.fromarray((255 - digit * 255).astype(np.uint8)).resize(
            (280, 280), Image.Resampling.BICUBIC
        )
        out = preprocess_image(png_bytes(im))
        assert np.corrcoef(out.ravel(), digit.ravel())[0, 1] > 0.85


def test_normalise_array_accepts_flat_and_rejects_blank():
    digit = np.zeros((28, 28), np.float32)
    digit[5:20, 3:6] = 1.0
    out = normalise_array(digit.ravel())
    assert out.shape == (28, 28)
    assert abs(centre_of_mass(out)[1] - 14) <= 1
    with pytest.raises(errors.BlankImage):
        normalise_array(np.zeros((28, 28)))


@pytest.mark.parametrize("f", [2, 3, 4])
def test_box_mean_is_the_block_mean(f):
    from app.ml.preprocess import _box_mean

    g = np.random.default_rng(f).random((12 * f, 7 * f), dtype=np.float32)
    expected = g.reshape(12, f, 7, f).mean(axis=(1, 3))
    got = _box_mean(g, f)
    assert got.shape == (12, 7) and got.dtype == np.float32
    assert np.abs(got - expected).max() < 1e-6
