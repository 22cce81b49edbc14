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


def store_prediction(
    app: Any,
    user_id: int,
    predicted: int,
    probability: float = 0.5,
    pixels: Any = None,
    arm: str | None = "v1",
) -> int:
    """A stored prediction row of `user_id` (as the predict path writes it) with a chosen answer and
    probability, for tests that need many or exactly-confident predictions; its id. `pixels`: a
    28x28 float image (blank if None)."""
    import hashlib

    import numpy as np

    from app.extensions import db
    from app.ml.codec import image_to_bytes
    from app.predict.models import Prediction

    image = image_to_bytes(np.zeros((28, 28), np.float32) if pixels is None else pixels)
    with app.app_context():
        probs = [(1.0 - probability) / 9] * 10
        probs[predicted] = probability
        p = Prediction(
            user_id=user_id,
            model_name="digit-classifier",
            model_alias=arm or "v1",
            model_version="1",
            ab_experiment="v1-vs-v2" if arm else None,
            ab_arm=arm,
            predicted=predicted,
            probability=probability,
            probabilities=probs,
            image=image,
            image_sha256=hashlib.sha256(image).hexdigest(),
            latency_ms=1.0,
        )
        db.session.add(p)
        db.session.commit()
        return p.id


def give_verdict(client: Any, headers: dict, prediction_id: int, predicted: int, label: int) -> dict:
    """POST /feedback saying the prediction (answer `predicted`) is `label`; must answer 200/201."""
    correct = label == predicted
    body = {"prediction_id": prediction_id, "correct": correct, "label": None if correct else label}
    resp = client.post("/feedback", headers=headers, json=body)
    assert resp.status_code in (200, 201), resp.get_json()
    return resp.get_json()


def seed_ab_predictions(
    user_id: int,
    arm: str,
    verdicts: list[bool | None],
    experiment: str = "v1-vs-v2",
    version: str = "1",
    when: Any = None,
    latency_ms: float = 1.0,
) -> None:
    """Inside an app context: one stored A/B prediction of `user_id` in `arm` per entry of
    `verdicts`, judged by that user (True right, False wrong, None not judged) at the same moment
    `when` (default now); committed."""
    from app.extensions import db
    from app.feedback.models import Feedback
    from app.predict.models import Prediction
    from app.timeutil import utcnow

    when = when or utcnow()
    for i, verdict in enumerate(verdicts):
        predicted = i % 10
        p = Prediction(
            user_id=user_id,
            model_name="digit-classifier",
            model_alias=arm,
            model_version=version,
            ab_experiment=experiment,
            ab_arm=arm,
            predicted=predicted,
            probability=0.9,
            probabilities=[0.1] * 10,
            image=bytes(784),
            image_sha256="0" * 64,
            latency_ms=latency_ms,
            created_at=when,
        )
        db.session.add(p)
        if verdict is None:
            continue
        db.session.flush()
        label = predicted if verdict else (predicted + 1) % 10
        db.session.add(
            Feedback(
                prediction_id=p.id,
                user_id=user_id,
                correct=verdict,
                label=label,
                predicted=predicted,
                created_at=when,
            )
        )
    db.session.commit()


def add_users(count: int) -> list[int]:
    """Inside an app context: `count` new ordinary users; their ids."""
    import uuid

    from app.auth.services import create_user

    return [create_user(f"u{uuid.uuid4().hex[:12]}", PASSWORD).id for _ in range(count)]


def misclassified_holdout(model: Any, n: int) -> tuple[Any, Any]:
    """(X, y) of `n` MNIST holdout images `model` (a fitted pipeline) gets wrong, as retrain
    feedback: trained on, they make a candidate strictly better on the holdout than `model`."""
    from app.ml import data

    split = data.load_split()  # cached; the holdout is the same whatever the training limit
    wrong = (model.predict(split.X_holdout) != split.y_holdout).nonzero()[0][:n]
    assert len(wrong) == n, f"only {len(wrong)} holdout images misclassified"
    return split.X_holdout[wrong], split.y_holdout[wrong]


def correct_mistakes(client: Any, headers: dict, alias: str = "v1", n: int = 10) -> list[dict]:
    """Predict MNIST holdout digits on `alias` until it got `n` wrong, sending the true label of
    each as feedback; returns those predictions. A retrain of `alias` then learns them and is
    strictly better on the holdout: what the promotion gate (ties never promote) needs."""
    wrong: list[dict] = []
    for index in range(0, 1000, 3):
        pixels, label = holdout_digit(index)
        body = predict_ok(client, headers, mnist_as_photo(pixels), alias)
        if body["prediction"] == label:
            continue
        fb = {"prediction_id": body["prediction_id"], "correct": False, "label": label}
        resp = client.post("/feedback", headers=headers, json=fb)
        assert resp.status_code == 201, resp.get_json()
        wrong.append(body)
        if len(wrong) == n:
            return wrong
    raise AssertionError(f"{alias} got only {len(wrong)} of the holdout digits wrong")


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
