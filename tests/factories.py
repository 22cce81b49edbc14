"""The one test-helper module (flaskr's AuthActions, cookiecutter's factories.py): images to send
(made by devstack.images, which bench/ shares), the multipart predict post and the sign-in."""

from __future__ import annotations

import io
from typing import Any

from devstack.images import (  # noqa: F401 - re-exported: tests import their images from here
    blank_png,
    bomb_png,
    draw_digit,
    drawn_one,
    holdout_digit,
    mnist_as_photo,
    multipart,
    png_bytes,
    png_chunk,
    png_of_side,
    progressive_jpeg_bomb,
    webp_bomb,
)

PASSWORD = "correct-horse-1"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def digit_photo(index: int) -> bytes:
    """Holdout digit `index` as a user's PNG upload."""
    return mnist_as_photo(holdout_digit(index)[0])


def post_files(
    client: Any, path: str, headers: dict, files: list[tuple[bytes, str]], field: str = "file"
) -> Any:
    """POST (data, filename) pairs as multipart `field` parts to `path` with a Flask test client
    (no pair: an empty form); returns the response unchecked."""
    form = {field: [(io.BytesIO(data), name) for data, name in files]} if files else {}
    return client.post(path, headers=headers, data=form, content_type="multipart/form-data")


def post_predict(client: Any, headers: dict, png: bytes, alias: str = "v2", path: str | None = None) -> Any:
    """POST `png` as the one `file` part to /api/<alias>/predict (or `path`); response unchecked."""
    return post_files(client, path or f"/api/{alias}/predict", headers, [(png, "d.png")])


def predict_ok(client: Any, headers: dict, png: bytes, alias: str = "v2") -> dict:
    """post_predict that must answer 200; its JSON body."""
    resp = post_predict(client, headers, png, alias)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def sign_in(client: Any, username: str, password: str = PASSWORD, path: str = "/login") -> dict:
    """Log in through the API (must answer 200); the token body."""
    resp = client.post(path, json={"username": username, "password": password})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def centre_of_mass(a: Any) -> tuple[float, float]:
    """(row, column) centre of mass of a 2-D array's ink."""
    import numpy as np

    ys, xs = np.mgrid[: a.shape[0], : a.shape[1]]
    m = a.sum()
    return float((a * ys).sum() / m), float((a * xs).sum() / m)


def realworld_uploads(indices: Any) -> list[tuple[bytes, int]]:
    """(encoded upload, label) of the real-world evaluation set at `indices`: real-style traffic."""
    from app.ml import realworld

    s = realworld.load()
    return [(s.blobs[i], int(s.y[i])) for i in indices]


def rotated_upload(blob: bytes, degrees: int = 90) -> bytes:
    """The upload turned by `degrees` (a shifted stream: a client sending sideways photos)."""
    from PIL import Image

    with Image.open(io.BytesIO(blob)) as img:
        rgb = img.convert("RGB")
        # The corners filled with the photo's own background, not a colour the preprocessing would see as ink.
        return png_bytes(rgb.rotate(degrees, expand=True, fillcolor=rgb.getpixel((0, 0))))


def predict_batches(
    client: Any, headers: dict, blobs: list[bytes], alias: str = "v2", per: int = 64
) -> list[dict]:
    """POST `blobs` to /api/<alias>/predict/batch `per` at a time (each must answer 200); every
    result in order."""
    results: list[dict] = []
    for start in range(0, len(blobs), per):
        chunk = [(b, f"d{start + i}.png") for i, b in enumerate(blobs[start : start + per])]
        resp = post_files(client, f"/api/{alias}/predict/batch", headers, chunk)
        assert resp.status_code == 200, resp.get_json()
        results += resp.get_json()["results"]
    return results


def add_predictions(app: Any, user_id: int, alias: str, images: Any) -> None:
    """Store one prediction per (n, 784) image as the predict service would (the alias's served
    model scores them), without the HTTP round trip: for tests that need many windows."""
    import hashlib

    import numpy as np

    from app.extensions import db
    from app.ml.codec import image_to_bytes
    from app.predict.models import Prediction
    from app.state import model_store

    with app.app_context():
        model = model_store(app).get(alias)
        proba = np.asarray(model.predict_proba(images), dtype=np.float64)
        for image, p in zip(images, proba, strict=True):
            raw = image_to_bytes(np.asarray(image).reshape(28, 28))
            db.session.add(
                Prediction(
                    user_id=user_id,
                    model_name=app.config["MODEL_NAME"],
                    model_alias=alias,
                    model_version=str(model.version),
                    predicted=int(p.argmax()),
                    probability=round(float(p.max()), 6),
                    probabilities=[round(float(v), 6) for v in p],
                    image=raw,
                    image_sha256=hashlib.sha256(raw).hexdigest(),
                    latency_ms=1.0,
                )
            )
        db.session.commit()
