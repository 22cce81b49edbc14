from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.pagination import PageArgs, PageSchema
from app.security import DB_INT_MAX
from app.timeutil import UtcDateTime


class StrictBoolean(ma.fields.Boolean):
    """Only JSON true/false: "yes", 1 or "false" are refused rather than guessed."""

    def _deserialize(self, value, attr, data, **kwargs):  # noqa: ANN001, ANN202
        if not isinstance(value, bool):
            raise ma.ValidationError("Must be a boolean (true or false).")
        return value


class StrictInteger(ma.fields.Integer):
    def _deserialize(self, value, attr, data, **kwargs):  # noqa: ANN001, ANN202
        if isinstance(value, bool) or not isinstance(value, int):
            raise ma.ValidationError("Must be an integer.")
        return super()._deserialize(value, attr, data, **kwargs)


class FeedbackInSchema(ma.Schema):
    prediction_id = StrictInteger(
        validate=validate.Range(min=1, max=DB_INT_MAX), metadata={"description": "From a predict response"}
    )
    prediction = StrictInteger(
        validate=validate.Range(min=0, max=9),
        metadata={"description": "Original API: the predicted digit, when there is no prediction_id"},
    )
    correct = StrictBoolean(required=True)
    label = StrictInteger(
        validate=validate.Range(min=0, max=9),
        allow_none=True,
        metadata={"description": "The true digit; required when correct is false"},
    )
    comment = ma.fields.String(validate=validate.Length(max=1000), allow_none=True)


class FeedbackOutSchema(ma.Schema):
    """A verdict as the API answers it; dumps a ``Feedback`` row (``replaced``/``message`` are
    added by POST /feedback)."""

    id = ma.fields.Integer()
    prediction_id = ma.fields.Integer(allow_none=True)
    user_id = ma.fields.Integer()
    correct = ma.fields.Boolean()
    label = ma.fields.Integer(allow_none=True)
    predicted = ma.fields.Integer(allow_none=True)
    model_version = ma.fields.String(
        allow_none=True, metadata={"description": "The MLflow version that made the prediction"}
    )
    ab_arm = ma.fields.String(
        allow_none=True, metadata={"description": "The A/B arm (an alias) that served it, if any"}
    )
    comment = ma.fields.String(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    replaced = ma.fields.Boolean(metadata={"description": "True when this replaced an earlier verdict"})
    counted = ma.fields.Boolean(
        metadata={"description": "False for verdicts without a prediction_id: kept, never counted"}
    )
    usable_for_training = ma.fields.Boolean()
    review = ma.fields.String(
        metadata={
            "description": "none; pending (flagged, waits for an admin, not trained yet); accepted; rejected"
        }
    )
    review_reason = ma.fields.String(allow_none=True)
    message = ma.fields.String()


class FeedbackListArgs(PageArgs):
    mine = ma.fields.Boolean(load_default=True, metadata={"description": "Admins may pass mine=0 for all"})


class FeedbackPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(FeedbackOutSchema))
