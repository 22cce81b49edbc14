"""The single-image views answer with prediction_body (app/predict/schemas.py), not a marshmallow
dump: the two must stay equal, key for key and type for type, or the documented schema lies."""

from __future__ import annotations

import json
import random

import pytest

from app.extensions import db
from app.predict.models import Prediction
from app.predict.schemas import PredictionSchema, prediction_body
from tests.factories import holdout_digit, mnist_as_photo, post_predict


def _random_row(rng: random.Random) -> Prediction:
    def maybe(value):  # noqa: ANN001, ANN202 - any column may be unset on a row not yet stored
        return None if rng.random() < 0.15 else value

    probabilities = [rng.choice([0, 1, rng.random(), round(rng.random(), 6)]) for _ in range(10)]
    ab = rng.random() < 0.5
    return Prediction(
        id=maybe(rng.randrange(1, 10**9)),
        model_alias=maybe(rng.choice(["v1", "v2", "champion"])),
        model_version=maybe(rng.choice(["1", "7", 12])),
        predicted=maybe(rng.randrange(10)),
        probability=maybe(rng.choice([1, 0.5, rng.random()])),
        probabilities=maybe(probabilities),
        latency_ms=maybe(rng.choice([0, 3, rng.random() * 100, 1e-7])),
        ood=maybe(rng.choice([True, False, 0, 1])),
        ood_score=maybe(rng.choice([0, rng.random() * 10])),
        ab_arm=rng.choice(["v1", "v2"]) if ab else None,
        ab_experiment=maybe(rng.choice(["exp-1", "default"])) if ab else None,
    )


def test_body_equals_the_schema_dump_for_any_row():
    rng = random.Random(16)
    schema = PredictionSchema()
    for _ in range(2000):
        row = _random_row(rng)
        expected, got = schema.dump(row), prediction_body(row)
        assert got == expected, (got, expected)
        # Equal values of different JSON types (1 and 1.0, True and 1) would still differ on the wire.
        assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)


@pytest.mark.usefixtures("models")
@pytest.mark.parametrize("path", ["/api/v1/predict", "/api/v2/predict", "/api/ab/predict"])
def test_answer_is_the_schema_dump_of_the_stored_row(app, client, user_headers, path):
    resp = post_predict(client, user_headers, mnist_as_photo(holdout_digit(7)[0]), path=path)
    assert resp.status_code == 200, resp.get_json()
    assert resp.mimetype == "application/json"
    assert resp.headers["X-RateLimit-Limit"] and resp.headers["X-RateLimit-Remaining"]
    body = resp.get_json()
    with app.app_context():
        row = db.session.get(Prediction, body["prediction_id"])
        assert body == PredictionSchema().dump(row)
    assert ("ab_version" in body) is (path == "/api/ab/predict")
