"""The A/B endpoints' schemas."""

from __future__ import annotations

import marshmallow as ma

from app.ab.service import MODES


class ArmSchema(ma.Schema):
    alias = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=64),
        metadata={"description": "The alias this arm serves, e.g. v1"},
    )
    weight = ma.fields.Float(required=True, allow_nan=False)


class AbSettingsSchema(ma.Schema):
    experiment = ma.fields.String(validate=ma.validate.Regexp(r"^[A-Za-z0-9_.:\-]{1,64}$"))
    mode = ma.fields.String(validate=ma.validate.OneOf(MODES))
    arms = ma.fields.List(ma.fields.Nested(ArmSchema), required=True, validate=ma.validate.Length(min=1))
