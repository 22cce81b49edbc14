from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.ml.registry import ALIAS_PATTERN, BASE_ALIAS
from app.ml.tracking import RETRAIN_EXPERIMENT
from app.pagination import PageSchema
from app.timeutil import EventDateTime, UtcDateTime

ALIAS = validate.Regexp(ALIAS_PATTERN, error="Not a valid alias name.")


class RetrainRequestSchema(ma.Schema):
    base = ma.fields.String(
        load_default=BASE_ALIAS, validate=ALIAS, metadata={"description": "Alias to start from"}
    )
    family = ma.fields.String(
        load_default=None,
        metadata={"description": "Model family (logreg, hog_logreg, hog_mlp); default: the base's"},
    )
    epochs = ma.fields.Integer(load_default=None, validate=validate.Range(min=1, max=500))
    learning_rate = ma.fields.Float(load_default=None, validate=validate.Range(min=1e-5, max=1.0))
    promote_to = ma.fields.String(
        load_default=None,
        validate=ALIAS,
        metadata={"description": "The alias moved to the new version if it wins; default: base"},
    )
    note = ma.fields.String(load_default=None, validate=validate.Length(max=500))
    rollout = ma.fields.Boolean(
        load_default=False,
        metadata={
            "description": "If the new version passes the gate, start a staged rollout of it on the "
            "alias (POST /admin/rollouts) instead of moving the alias"
        },
    )
    # Test-only: trains on shuffled labels to prove the promotion gate rejects a worse model.
    shuffle_labels = ma.fields.Boolean(load_default=False, metadata={"description": "Testing config only"})


class _DictOrEmpty(ma.fields.Dict):
    """A JSON column that may hold NULL: answered as ``{}``."""

    def _serialize(self, value, attr, obj, **kwargs):  # noqa: ANN001, ANN202
        return super()._serialize(value or {}, attr, obj, **kwargs)


class JobSchema(ma.Schema):
    """A retrain job as the API answers it; dumps a ``RetrainJob`` row."""

    id = ma.fields.Integer(metadata={"description": "The job id"})
    job_id = ma.fields.Integer(
        attribute="id",
        dump_only=True,
        metadata={"description": "Same as `id`; kept for clients of the original API"},
    )
    status = ma.fields.String()
    progress = ma.fields.Integer()
    step = ma.fields.String(allow_none=True)
    requested_by = ma.fields.Integer(allow_none=True)
    params = _DictOrEmpty()
    metrics = _DictOrEmpty()
    mlflow_experiment_id = ma.fields.String(allow_none=True)
    # Not a column: every job logs to the one retrain experiment.
    mlflow_experiment = ma.fields.String(dump_default=RETRAIN_EXPERIMENT)
    mlflow_run_id = ma.fields.String(allow_none=True)
    registered_version = ma.fields.String(
        allow_none=True, metadata={"description": "The MLflow model version the retrain registered"}
    )
    promoted = ma.fields.Boolean(allow_none=True)
    decision = ma.fields.String(allow_none=True)
    new_accuracy = ma.fields.Float(allow_none=True)
    baseline_accuracy = ma.fields.Float(allow_none=True)
    error = ma.fields.String(allow_none=True)
    note = ma.fields.String(allow_none=True)
    trigger = ma.fields.String(
        allow_none=True,
        metadata={"description": 'What started the job: "admin:<username>" or "policy:<trigger> (<why>)"'},
    )
    created_at = UtcDateTime()
    started_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)
    duration_s = ma.fields.Float(allow_none=True, metadata={"description": "finished_at - started_at"})


class JobEventSchema(JobSchema):
    """The same job in the Socket.IO `retrain_finished` event, whose datetimes keep the events' form."""

    created_at = EventDateTime()
    started_at = EventDateTime(allow_none=True)
    finished_at = EventDateTime(allow_none=True)


class JobPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(JobSchema))


class QueuedSchema(ma.Schema):
    job_id = ma.fields.Integer()
    status = ma.fields.String()
