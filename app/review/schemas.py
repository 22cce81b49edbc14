"""The review queue's request and answer schemas."""

from __future__ import annotations

import base64
import io

import marshmallow as ma
import numpy as np
from PIL import Image

from app.feedback.models import Feedback
from app.ml.codec import IMAGE_SIDE
from app.pagination import PageArgs, PageSchema
from app.timeutil import UtcDateTime

LIST_STATUSES = ("pending", "accepted", "rejected", "all")


def image_data_url(fb: Feedback) -> str | None:
    """The judged 28x28 image (as the model saw it) as a PNG data URL: what the admin judges."""
    if fb.prediction is None or not fb.prediction.image:
        return None
    pixels = np.frombuffer(fb.prediction.image, dtype=np.uint8).reshape(IMAGE_SIDE, IMAGE_SIDE)
    buf = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class ReviewListArgs(PageArgs):
    status = ma.fields.String(
        load_default="pending",
        validate=ma.validate.OneOf(LIST_STATUSES),
        metadata={"description": "pending (the queue, oldest first), accepted, rejected, or all flagged"},
    )


class ReviewDecisionSchema(ma.Schema):
    decision = ma.fields.String(required=True, validate=ma.validate.OneOf(("accept", "reject")))


class ReviewItemSchema(ma.Schema):
    """A flagged verdict with what an admin needs to judge it."""

    id = ma.fields.Integer(metadata={"description": "The feedback id"})
    prediction_id = ma.fields.Integer(allow_none=True)
    user_id = ma.fields.Integer()
    correct = ma.fields.Boolean()
    label = ma.fields.Integer(allow_none=True, metadata={"description": "The user's label"})
    predicted = ma.fields.Integer(allow_none=True, metadata={"description": "The model's answer"})
    probability = ma.fields.Function(
        lambda fb: fb.prediction.probability if fb.prediction else None,
        metadata={"description": "The model's probability for its answer"},
    )
    model_version = ma.fields.String(allow_none=True)
    comment = ma.fields.String(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    review = ma.fields.String(metadata={"description": "none, pending, accepted or rejected"})
    review_reason = ma.fields.String(
        allow_none=True, metadata={"description": "confident_contradiction or outlier_user"}
    )
    reviewed_by = ma.fields.Integer(allow_none=True, metadata={"description": "The deciding admin's id"})
    reviewed_at = UtcDateTime(allow_none=True)
    image = ma.fields.Function(image_data_url, metadata={"description": "PNG data URL of the 28x28 image"})


class ReviewPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(ReviewItemSchema))
