"""Issue 13, item 2: decode bombs are refused from their headers, before any pixel is decoded."""

from __future__ import annotations

import io
import threading
import warnings

import pytest
from PIL import Image

from app.ml import decode_budget, errors
from app.ml.preprocess import DEFAULT_MAX_PIXELS, preprocess_image
from tests.factories import png_of_side, progressive_jpeg_bomb, webp_bomb


def _refused(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> errors.ImageError:
    with pytest.raises(errors.ImageTooLarge) as info:
        preprocess_image(data, max_pixels=max_pixels)
    assert info.value.http_status == 413
    return info.value


def test_progressive_jpeg_with_thousands_of_scans_is_refused():
    _refused(progressive_jpeg_bomb(side=5000, extra_scans=2000))
    # Within the pixel budget, huge in scans: the scan count alone refuses it.
    assert "scans" in str(_refused(progressive_jpeg_bomb(side=600, extra_scans=500)))


def test_tiny_lossless_webp_declaring_25m_pixels_is_refused():
    data = webp_bomb(5000)
    assert len(data) < 1024
    _refused(data)


def test_the_documented_limit_is_the_real_one():
    """4500x4500 (20 M pixels) was between Pillow's guard (16.8 M) and the README's 25 M: a logged
    DecompressionBombWarning, then served. Now the configured limit is Pillow's guard, and past
    it Pillow's warning is an error (refused, nothing decoded)."""
    from app.config import Config

    assert Config.MAX_IMAGE_PIXELS == Image.MAX_IMAGE_PIXELS == DEFAULT_MAX_PIXELS == 4096 * 4096
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # as set at import (pytest resets)
        _refused(png_of_side(4500))
    _refused(png_of_side(4097))


def test_full_size_formats_and_progressive_jpeg_stop_at_2048_squared():
    assert "full size" in str(_refused(png_of_side(2100)))
    buf = io.BytesIO()
    Image.new("L", (3000, 3000), 255).save(buf, "JPEG", progressive=True)
    assert "progressive JPEG" in str(_refused(buf.getvalue()))


def test_baseline_jpeg_is_decoded_reduced_up_to_the_declared_limit():
    im = Image.new("L", (4000, 4000), 255)
    im.paste(0, (1500, 1000, 2500, 3000))  # a thick bar: ink
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=80)
    out = preprocess_image(buf.getvalue())
    assert out.shape == (28, 28) and out.max() > 0.5


def test_concurrent_decodes_are_bounded_per_process(monkeypatch):
    monkeypatch.setattr(decode_budget, "_slots", threading.BoundedSemaphore(1))
    release = threading.Event()
    held = threading.Event()

    def hold() -> None:
        with decode_budget.decode_slot():
            held.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(30)
        with pytest.raises(decode_budget.DecoderBusy) as info:
            with decode_budget.decode_slot(timeout=0.05):
                pass
        assert info.value.http_status == 503
    finally:
        release.set()
        thread.join(30)
    with decode_budget.decode_slot(timeout=5):  # free again
        pass
