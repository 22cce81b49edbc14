"""GET/PUT /admin/retrain/policy: one shape in and out. Unknown keys are refused (422)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.ml.families import FAMILIES
from app.ml.registry import BASE_ALIAS
from app.retrain.schemas import ALIAS
from app.security import DB_INT_MAX
from app.timeutil import UtcDateTime


def _count(minimum: int, description: str) -> ma.fields.Integer:
    return ma.fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.Range(min=minimum, max=DB_INT_MAX),
        metadata={"description": description},
    )


class JobOptionsSchema(ma.Schema):
    """The retrain a policy starts (as POST /admin/retrain's body)."""

    base = ma.fields.String(load_default=BASE_ALIAS, validate=ALIAS)
    promote_to = ma.fields.String(allow_none=True, validate=ALIAS)
    family = ma.fields.String(allow_none=True, validate=validate.OneOf(sorted(FAMILIES)))
    epochs = ma.fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=500))
    learning_rate = ma.fields.Float(
        allow_none=True, allow_nan=False, validate=validate.Range(min=1e-5, max=1.0)
    )


class SchedulerStateSchema(ma.Schema):
    holder = ma.fields.String(allow_none=True, metadata={"description": "host:pid:id of the lease holder"})
    expires_at = UtcDateTime(allow_none=True, metadata={"description": "Unless renewed (every tick)"})


class PolicySchema(ma.Schema):
    """Omitted keys keep their current value; null turns a trigger off."""

    enabled = ma.fields.Boolean(metadata={"description": "Whether the scheduler starts retrains at all"})
    min_new_labels = _count(1, "Retrain once this many counted labels arrived since the last retrain")
    interval_seconds = _count(1, "Retrain when this long has passed since the last retrain")
    on_drift_alarm = ma.fields.Boolean(metadata={"description": "Retrain while the drift alarm is raised"})
    accuracy_drop = ma.fields.Float(
        allow_none=True,
        allow_nan=False,
        validate=validate.Range(min=0, max=1, min_inclusive=False),
        metadata={"description": "Retrain when the estimated accuracy is this far below the reference"},
    )
    cooldown_seconds = ma.fields.Integer(
        strict=True,
        validate=validate.Range(min=0, max=DB_INT_MAX),
        metadata={"description": "No policy retrain within this long of the last job (any)"},
    )
    job = ma.fields.Nested(JobOptionsSchema)
    scheduler = ma.fields.Nested(
        SchedulerStateSchema,
        dump_only=True,
        metadata={"description": "The process acting as the deployment's scheduler right now"},
    )
    updated_by = ma.fields.Integer(dump_only=True, allow_none=True)
    updated_at = UtcDateTime(dump_only=True, allow_none=True)
