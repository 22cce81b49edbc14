"""The rollout endpoints' schemas."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.ml.registry import ALIAS_PATTERN
from app.pagination import PageArgs, PageSchema
from app.timeutil import UtcDateTime


class ThresholdsSchema(ma.Schema):
    """Per-rollout thresholds; each one left out takes its ROLLOUT_* setting."""

    alpha = ma.fields.Float(validate=validate.Range(min=0.0001, max=0.5))
    min_discordant = ma.fields.Integer(validate=validate.Range(min=1, max=1_000_000))
    max_discordant = ma.fields.Integer(validate=validate.Range(min=1, max=1_000_000))
    shadow_min = ma.fields.Integer(validate=validate.Range(min=0, max=10_000_000))
    min_agreement = ma.fields.Float(validate=validate.Range(min=0.0, max=1.0))
    canary_min = ma.fields.Integer(validate=validate.Range(min=0, max=10_000_000))
    full_min = ma.fields.Integer(validate=validate.Range(min=0, max=10_000_000))

    @ma.validates_schema
    def _ordered(self, data: dict, **_kwargs: object) -> None:
        low, high = data.get("min_discordant"), data.get("max_discordant")
        if low is not None and high is not None and high < low:
            raise ma.ValidationError("max_discordant must be at least min_discordant.", "max_discordant")


class RolloutRequestSchema(ma.Schema):
    alias = ma.fields.String(
        required=True,
        validate=validate.Regexp(ALIAS_PATTERN, error="Not a valid alias name."),
        metadata={"description": "The alias whose traffic the candidate shadows, then serves"},
    )
    version = ma.fields.String(
        required=True,
        validate=validate.Regexp(r"^[0-9]{1,12}$", error="A registered version number, e.g. \"7\"."),
        metadata={"description": "The candidate version"},
    )
    canary_share = ma.fields.Float(
        validate=validate.Range(min=0.0, max=1.0, min_inclusive=False),
        metadata={"description": "Share of the alias's users the candidate serves in the canary stage"},
    )
    thresholds = ma.fields.Nested(ThresholdsSchema, load_default=dict)


class RolloutSchema(ma.Schema):
    """A rollout as the API answers it; `evidence` is the paired comparison so far."""

    id = ma.fields.Integer()
    alias = ma.fields.String()
    candidate_version = ma.fields.String()
    baseline_version = ma.fields.String()
    stage = ma.fields.String(metadata={"description": "shadow|canary|full|promoted|rolled_back|cancelled"})
    active = ma.fields.Boolean()
    canary_share = ma.fields.Float()
    thresholds = ma.fields.Dict()
    history = ma.fields.List(ma.fields.Dict())
    reason = ma.fields.String(allow_none=True, metadata={"description": "Why the last stage change"})
    source = ma.fields.String(metadata={"description": "api, or retrain (handed over by a retrain job)"})
    retrain_job_id = ma.fields.Integer(allow_none=True)
    created_by = ma.fields.Integer(allow_none=True)
    created_at = UtcDateTime()
    stage_changed_at = UtcDateTime()
    finished_at = UtcDateTime(allow_none=True)
    evidence = ma.fields.Dict()


class RolloutPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(RolloutSchema))


class RolloutListArgs(PageArgs):
    alias = ma.fields.String(load_default=None, validate=validate.Length(max=64))
    active = ma.fields.Boolean(load_default=None)
