"""The admin endpoints' request and answer schemas."""

from __future__ import annotations

from datetime import UTC

import marshmallow as ma

from app.auth.models import ROLES
from app.auth.schemas import UserSchema
from app.pagination import PageSchema
from app.timeutil import UtcDateTime


class UserPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(UserSchema))


class UserUpdateSchema(ma.Schema):
    role = ma.fields.String(validate=ma.validate.OneOf(ROLES), load_default=None)
    active = ma.fields.Boolean(load_default=None)


class ReportArgs(ma.Schema):
    since = ma.fields.DateTime(load_default=None, metadata={"description": "ISO 8601 date or datetime"})
    until = ma.fields.DateTime(load_default=None)
    experiment = ma.fields.String(load_default=None)

    @ma.pre_load
    def _dates(self, data, **_kwargs):  # noqa: ANN001, ANN202
        # Accept plain dates ("2026-11-27") as well as datetimes.
        data = dict(data)
        for key in ("since", "until"):
            value = data.get(key)
            if isinstance(value, str) and len(value) == 10:
                data[key] = value + "T00:00:00"
        return data

    @ma.post_load
    def _naive_utc(self, data, **_kwargs):  # noqa: ANN001, ANN202
        for key in ("since", "until"):
            value = data.get(key)
            if value is not None and value.tzinfo is not None:
                data[key] = value.astimezone(UTC).replace(tzinfo=None)
        return data


class VersionRowSchema(ma.Schema):
    model_version = ma.fields.String(
        metadata={"description": "The version; on per_arm rows, all versions the arm served, comma-separated"}
    )
    arm = ma.fields.String(metadata={"description": "The A/B arm (an alias), on per_arm rows"})
    alias = ma.fields.String(allow_none=True)
    requests = ma.fields.Integer()
    feedback = ma.fields.Integer()
    correct = ma.fields.Integer()
    incorrect = ma.fields.Integer()
    accuracy = ma.fields.Float(allow_none=True)
    ci_low = ma.fields.Float(allow_none=True)
    ci_high = ma.fields.Float(allow_none=True)
    mean_latency_ms = ma.fields.Float(allow_none=True)
    ood_predictions = ma.fields.Integer(metadata={"description": "Answers flagged out of distribution"})
    ood_rate = ma.fields.Float(allow_none=True, metadata={"description": "ood_predictions / requests"})


class ComparisonSchema(ma.Schema):
    arms = ma.fields.List(ma.fields.String())
    test = ma.fields.String()
    z = ma.fields.Float(allow_none=True)
    p_value = ma.fields.Float(allow_none=True)
    alpha = ma.fields.Float()
    difference = ma.fields.Float(allow_none=True)
    cs_low = ma.fields.Float(
        allow_none=True, metadata={"description": "Confidence sequence on the difference"}
    )
    cs_high = ma.fields.Float(allow_none=True)
    exploratory = ma.fields.Boolean()
    verdict = ma.fields.String()


class CsPointSchema(ma.Schema):
    at = UtcDateTime(metadata={"description": "Time of the verdict after which this point was taken"})
    users = ma.fields.Integer()
    n = ma.fields.Integer()
    accuracy = ma.fields.Float(allow_none=True)
    cs_low = ma.fields.Float(allow_none=True)
    cs_high = ma.fields.Float(allow_none=True)


class ExperimentArmSchema(ma.Schema):
    arm = ma.fields.String()
    weight = ma.fields.Float(allow_none=True)
    assigned_users = ma.fields.Integer(metadata={"description": "Users who made a prediction in this arm"})
    users = ma.fields.Integer(metadata={"description": "Users who sent counted feedback"})
    n = ma.fields.Integer(metadata={"description": "Counted verdicts (each user's first FEEDBACK_USER_CAP)"})
    correct = ma.fields.Integer()
    accuracy = ma.fields.Float(allow_none=True)
    cs_low = ma.fields.Float(
        allow_none=True, metadata={"description": "Anytime-valid 95 % confidence sequence"}
    )
    cs_high = ma.fields.Float(allow_none=True)
    history = ma.fields.List(ma.fields.Nested(CsPointSchema))


class DifferenceSchema(ma.Schema):
    arms = ma.fields.List(ma.fields.String(), metadata={"description": "[a, b]: the estimate is a - b"})
    estimate = ma.fields.Float(allow_none=True)
    cs_low = ma.fields.Float(allow_none=True)
    cs_high = ma.fields.Float(allow_none=True)


class PhaseSchema(ma.Schema):
    number = ma.fields.Integer()
    mode = ma.fields.String()
    arms = ma.fields.List(ma.fields.Dict(), allow_none=True)
    started_at = UtcDateTime(allow_none=True)
    ended_at = UtcDateTime(allow_none=True)


class ExperimentSchema(ma.Schema):
    experiment = ma.fields.String()
    phase = ma.fields.Integer(metadata={"description": "The current phase, which is analysed"})
    mode = ma.fields.String()
    started_at = UtcDateTime(allow_none=True)
    exploratory = ma.fields.Boolean(
        metadata={"description": "Bandit (Thompson) data: estimates biased, no winner"}
    )
    alpha = ma.fields.Float()
    user_cap = ma.fields.Integer()
    arms = ma.fields.List(ma.fields.Nested(ExperimentArmSchema))
    difference = ma.fields.Nested(DifferenceSchema, allow_none=True)
    winner = ma.fields.String(
        allow_none=True, metadata={"description": "Null until the CS on the difference excludes 0"}
    )
    verdict = ma.fields.String()
    srm = ma.fields.Dict(metadata={"description": "Sample-ratio-mismatch check: status ok/failing/..."})
    previous_phases = ma.fields.List(ma.fields.Nested(PhaseSchema))


class ReportSchema(ma.Schema):
    since = UtcDateTime(allow_none=True)
    until = UtcDateTime(allow_none=True)
    experiment = ma.fields.String()
    total_feedback = ma.fields.Integer()
    correct = ma.fields.Integer()
    incorrect = ma.fields.Integer()
    accuracy = ma.fields.Float(
        allow_none=True,
        metadata={"description": "Fraction (0-1) of judged predictions that were right; null if none"},
    )
    accuracy_percentage = ma.fields.Float(
        metadata={"description": "The same in percent (0 if none): the original API's key, for its clients"}
    )
    accuracy_ci = ma.fields.List(
        ma.fields.Float(allow_none=True),
        allow_none=True,
        metadata={"description": "95 % Wilson interval, fractions"},
    )
    predictions = ma.fields.Integer(metadata={"description": "Answers stored in the window"})
    ood_predictions = ma.fields.Integer(
        metadata={"description": "Of those, flagged out of distribution (not a digit)"}
    )
    ood_rate = ma.fields.Float(allow_none=True, metadata={"description": "ood_predictions / predictions"})
    per_version = ma.fields.List(ma.fields.Nested(VersionRowSchema))
    per_arm = ma.fields.List(ma.fields.Nested(VersionRowSchema))
    comparison = ma.fields.Nested(ComparisonSchema, allow_none=True)
    experiments = ma.fields.List(ma.fields.Nested(ExperimentSchema))
    confusion_matrix = ma.fields.List(ma.fields.List(ma.fields.Integer()))
    message = ma.fields.String()


class ModelVersionSchema(ma.Schema):
    version = ma.fields.String(metadata={"description": "The MLflow model version"})
    aliases = ma.fields.List(ma.fields.String(), metadata={"description": "Aliases pointing at it"})
    run_id = ma.fields.String(allow_none=True)
    family = ma.fields.String(allow_none=True, metadata={"description": "Model family, e.g. hog_mlp"})
    holdout_accuracy = ma.fields.Float(allow_none=True)
    promotion_decision = ma.fields.String(allow_none=True)
    created_at = UtcDateTime(allow_none=True)


class ModelsSchema(ma.Schema):
    model_name = ma.fields.String()
    mlflow_ui = ma.fields.String()
    served = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(),
        metadata={"description": "alias -> version served by this process"},
    )
    versions = ma.fields.List(ma.fields.Nested(ModelVersionSchema))
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(),
        metadata={"description": "alias -> why its newest version failed to load (the last good one serves)"},
    )
