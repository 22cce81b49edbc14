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


def send_labels(client: Any, headers: dict, count: int, alias: str = "v1", start: int = 0) -> list[dict]:
    """Predict `count` holdout digits (from index `start`) as the caller and give each one its true
    label as feedback: `count` counted, training-usable labels. Returns the feedback answers."""
    answers = []
    for index in range(start, start + count):
        pixels, label = holdout_digit(index)
        pred = predict_ok(client, headers, mnist_as_photo(pixels), alias)
        correct = pred["prediction"] == label
        body: dict[str, Any] = {"prediction_id": pred["prediction_id"], "correct": correct}
        if not body["correct"]:
            body["label"] = label
        resp = client.post("/feedback", headers=headers, json=body)
        assert resp.status_code == 201, resp.get_json()
        assert resp.get_json()["usable_for_training"] is True
        answers.append(resp.get_json())
    return answers
