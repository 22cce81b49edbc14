"""GET /admin/monitoring: its query arguments and the one shape of its answer."""

from __future__ import annotations

from datetime import UTC

import marshmallow as ma

from app.timeutil import UtcDateTime

ALIAS_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class MonitoringArgs(ma.Schema):
    alias = ma.fields.String(
        load_default=None,
        validate=ma.validate.Regexp(ALIAS_PATTERN),
        metadata={"description": "Only this alias (e.g. v2)"},
    )
    since = ma.fields.DateTime(
        load_default=None,
        metadata={"description": "Only predictions since this ISO 8601 time (a look: stores no verdict)"},
    )

    @ma.pre_load
    def _date(self, data, **_kwargs):  # noqa: ANN001, ANN202
        data = dict(data)
        value = data.get("since")
        if isinstance(value, str) and len(value) == 10:  # a plain date
            data["since"] = value + "T00:00:00"
        return data

    @ma.post_load
    def _naive_utc(self, data, **_kwargs):  # noqa: ANN001, ANN202
        value = data.get("since")
        if value is not None and value.tzinfo is not None:
            data["since"] = value.astimezone(UTC).replace(tzinfo=None)
        return data


class TestSchema(ma.Schema):
    statistic = ma.fields.Float()
    p_value = ma.fields.Float()


class DriftSchema(ma.Schema):
    mmd = ma.fields.Nested(TestSchema, allow_none=True, metadata={"description": "MMD^2 permutation test"})
    class_chi2 = ma.fields.Nested(TestSchema, allow_none=True, metadata={"description": "Predicted classes"})
    p_value = ma.fields.Float(allow_none=True, metadata={"description": "Bonferroni-adjusted minimum"})
    alpha = ma.fields.Float()
    alarm = ma.fields.Boolean(allow_none=True, metadata={"description": "null: window below min_n"})


class WindowSchema(ma.Schema):
    n = ma.fields.Integer()
    since = UtcDateTime(allow_none=True, metadata={"description": "Time of the oldest prediction in it"})
    size = ma.fields.Integer()
    min_n = ma.fields.Integer()


class ReferenceSchema(ma.Schema):
    n = ma.fields.Integer()
    accuracy = ma.fields.Float()


class AliasMonitoringSchema(ma.Schema):
    alias = ma.fields.String()
    version = ma.fields.String()
    window = ma.fields.Nested(WindowSchema)
    drift = ma.fields.Nested(DriftSchema)
    estimated_accuracy = ma.fields.Float(allow_none=True, metadata={"description": "CBPE"})
    feedback_accuracy = ma.fields.Float(allow_none=True)
    feedback_n = ma.fields.Integer()
    reference = ma.fields.Nested(ReferenceSchema)
    alarm_raised = ma.fields.Boolean(metadata={"description": "This evaluation raised the alarm"})


class MonitoringSchema(ma.Schema):
    aliases = ma.fields.List(ma.fields.Nested(AliasMonitoringSchema))
    computed_at = UtcDateTime()
