from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from flask_smorest.fields import Upload


class ImageUploadSchema(ma.Schema):
    # Not `required` here: a missing part is answered with 400 by the view, not webargs' 422.
    file = Upload(metadata={"description": "The digit image (PNG, JPEG, BMP, GIF, TIFF, WEBP)."})


class BatchUploadSchema(ma.Schema):
    file = ma.fields.List(Upload(), metadata={"description": "Several `file` parts, one image each."})


class _Rounded(ma.fields.Float):
    """Milliseconds to the microsecond."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else round(value, 3)


class PredictionSchema(ma.Schema):
    """A prediction as the API answers it; dumps a stored ``Prediction`` row. Vocabulary
    (alias, version, arm): docs/architecture.md."""

    prediction = ma.fields.Integer(attribute="predicted", metadata={"description": "Predicted digit 0-9"})
    probability = ma.fields.Float()
    probabilities = ma.fields.List(ma.fields.Float(), metadata={"description": "All ten classes"})
    version = ma.fields.String(
        attribute="model_alias", metadata={"description": "The alias that served, e.g. v2 (not a version)"}
    )
    model_version = ma.fields.String(
        metadata={"description": "The MLflow model version the alias pointed to, e.g. 7"}
    )
    ood = ma.fields.Boolean(
        metadata={"description": "True when the image does not look like a digit (out of distribution)"}
    )
    ood_score = ma.fields.Float(
        allow_none=True,
        metadata={"description": "Distance from the digits seen in training; above the threshold: ood"},
    )
    prediction_id = ma.fields.Integer(attribute="id")
    latency_ms = _Rounded()
    # Second keys for one attribute are dump-only (marshmallow refuses two loaders for one).
    prediccion = ma.fields.Integer(
        attribute="predicted", dump_only=True, metadata={"description": "Original API key for `prediction`"}
    )
    probabilidad = ma.fields.Float(
        attribute="probability",
        dump_only=True,
        metadata={"description": "Original API key for `probability`"},
    )
    ab_version = ma.fields.String(
        attribute="ab_arm", metadata={"description": "The A/B arm (an alias) that served (A/B only)"}
    )
    experiment = ma.fields.String(
        attribute="ab_experiment", metadata={"description": "A/B experiment (A/B only)"}
    )

    @ma.post_dump
    def _ab_only(self, body: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        # Outside A/B the two A/B keys are absent, not null.
        if body.get("ab_version") is None:
            body.pop("ab_version", None)
            body.pop("experiment", None)
        return body


def _opt(kind: Callable[[Any], Any], value: Any) -> Any:
    return None if value is None else kind(value)


def prediction_body(row: Any) -> dict[str, Any]:
    """What PredictionSchema dumps for a stored prediction, built directly: the single-image
    views answer with it (marshmallow's dump cost ~0.1 ms of each prediction).
    tests/test_prediction_body.py holds the two equal."""
    predicted, probability = _opt(int, row.predicted), _opt(float, row.probability)
    body = {
        "prediction": predicted,
        "prediccion": predicted,
        "probability": probability,
        "probabilidad": probability,
        "probabilities": _opt(lambda values: [float(v) for v in values], row.probabilities),
        "version": _opt(str, row.model_alias),
        "model_version": _opt(str, row.model_version),
        "ood": row.ood,  # as marshmallow 4 dumps a Boolean: unchanged
        "ood_score": _opt(float, row.ood_score),
        "prediction_id": _opt(int, row.id),
        "latency_ms": _opt(lambda ms: round(ms, 3), row.latency_ms),
    }
    if row.ab_arm is not None:  # outside A/B the two A/B keys are absent, not null
        body["ab_version"] = str(row.ab_arm)
        body["experiment"] = _opt(str, row.ab_experiment)
    return body


class BatchItemSchema(PredictionSchema):
    """A stored prediction (with its `index` and `filename` set) or a rejected file's error."""

    index = ma.fields.Integer()
    filename = ma.fields.String()
    error = ma.fields.Dict(metadata={"description": "Present instead of a prediction for a rejected file"})


class BatchResultSchema(ma.Schema):
    count = ma.fields.Integer()
    succeeded = ma.fields.Integer()
    failed = ma.fields.Integer()
    model_version = ma.fields.String(metadata={"description": "The MLflow model version that answered"})
    version = ma.fields.String(metadata={"description": "The alias that served, e.g. v2 (not a version)"})
    results = ma.fields.List(ma.fields.Nested(BatchItemSchema))
