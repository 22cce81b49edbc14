from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.ml.registry import ALIAS_PATTERN, BASE_ALIAS
from app.pagination import PageSchema
from app.timeutil import UtcDateTime

ALIAS = validate.Regexp(ALIAS_PATTERN, error="Not a valid alias name.")


class RetrainRequestSchema(ma.Schema):
    base = ma.fields.String(
        load_default=BASE_ALIAS, validate=ALIAS, metadata={"description": "Alias to start from"}
    )
    family = ma.fields.String(
        load_default=None, metadata={"description": "Model family; default: the base's"}
    )
    epochs = ma.fields.Integer(load_default=None, validate=validate.Range(min=1, max=500))
    learning_rate = ma.fields.Float(load_default=None, validate=validate.Range(min=1e-5, max=1.0))
    promote_to = ma.fields.String(
        load_default=None, validate=ALIAS, metadata={"description": "Default: base"}
    )
    note = ma.fields.String(load_default=None, validate=validate.Length(max=500))
    # Test-only: trains on shuffled labels to prove the promotion gate rejects a worse model.
    shuffle_labels = ma.fields.Boolean(load_default=False, metadata={"description": "Testing config only"})


class JobSchema(ma.Schema):
    id = ma.fields.Integer()
    job_id = ma.fields.Integer()
    status = ma.fields.String()
    progress = ma.fields.Integer()
    step = ma.fields.String(allow_none=True)
    requested_by = ma.fields.Integer(allow_none=True)
    params = ma.fields.Dict()
    metrics = ma.fields.Dict()
    mlflow_experiment_id = ma.fields.String(allow_none=True)
    mlflow_experiment = ma.fields.String()
    mlflow_run_id = ma.fields.String(allow_none=True)
    registered_version = ma.fields.String(allow_none=True)
    promoted = ma.fields.Boolean(allow_none=True)
    decision = ma.fields.String(allow_none=True)
    new_accuracy = ma.fields.Float(allow_none=True)
    baseline_accuracy = ma.fields.Float(allow_none=True)
    error = ma.fields.String(allow_none=True)
    note = ma.fields.String(allow_none=True)
    created_at = UtcDateTime()
    started_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)
    duration_s = ma.fields.Float(allow_none=True)


class JobPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(JobSchema))


class QueuedSchema(ma.Schema):
    job_id = ma.fields.Integer()
    status = ma.fields.String()
