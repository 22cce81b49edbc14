from __future__ import annotations

import marshmallow as ma
from flask_smorest.fields import Upload


class ImageUploadSchema(ma.Schema):
    # Not `required` here: a missing part is answered with 400 by the view, not webargs' 422.
    file = Upload(metadata={"description": "The digit image (PNG, JPEG, BMP, GIF, TIFF, WEBP)."})


class BatchUploadSchema(ma.Schema):
    file = ma.fields.List(Upload(), metadata={"description": "Several `file` parts, one image each."})


class PredictionSchema(ma.Schema):
    prediction = ma.fields.Integer(metadata={"description": "Predicted digit 0-9"})
    probability = ma.fields.Float()
    probabilities = ma.fields.List(ma.fields.Float(), metadata={"description": "All ten classes"})
    version = ma.fields.String(metadata={"description": "Model alias, e.g. v2"})
    model_version = ma.fields.String(metadata={"description": "Registered MLflow model version"})
    prediction_id = ma.fields.Integer()
    latency_ms = ma.fields.Float()
    prediccion = ma.fields.Integer(metadata={"description": "Original API key for `prediction`"})
    probabilidad = ma.fields.Float(metadata={"description": "Original API key for `probability`"})
    ab_version = ma.fields.String(metadata={"description": "A/B arm that served (A/B only)"})
    experiment = ma.fields.String(metadata={"description": "A/B experiment (A/B only)"})


class BatchItemSchema(PredictionSchema):
    index = ma.fields.Integer()
    filename = ma.fields.String()
    error = ma.fields.Dict(metadata={"description": "Present instead of a prediction for a rejected file"})


class BatchResultSchema(ma.Schema):
    count = ma.fields.Integer()
    succeeded = ma.fields.Integer()
    failed = ma.fields.Integer()
    model_version = ma.fields.String()
    version = ma.fields.String()
    results = ma.fields.List(ma.fields.Nested(BatchItemSchema))
