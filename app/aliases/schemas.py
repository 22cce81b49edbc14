from __future__ import annotations

import marshmallow as ma

from app.pagination import PageArgs, PageSchema
from app.timeutil import UtcDateTime


class AliasMoveSchema(ma.Schema):
    id = ma.fields.Integer()
    alias = ma.fields.String()
    from_version = ma.fields.String(allow_none=True, metadata={"description": "None: the alias was new"})
    to_version = ma.fields.String()
    reason = ma.fields.String()
    source = ma.fields.String(metadata={"description": "bootstrap, retrain, rollback, rollout or admin"})
    actor_id = ma.fields.Integer(allow_none=True)
    actor = ma.fields.Function(lambda m: m.actor.username if m.actor is not None else None, allow_none=True)
    created_at = UtcDateTime(allow_none=True)


class AliasMovePageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(AliasMoveSchema))


class HistoryArgs(PageArgs):
    alias = ma.fields.String(load_default=None, validate=ma.validate.Length(min=1, max=64))


class RollbackSchema(ma.Schema):
    alias = ma.fields.String()
    from_version = ma.fields.String()
    to_version = ma.fields.String()
    move = ma.fields.Nested(AliasMoveSchema)
    champion = ma.fields.Nested(
        AliasMoveSchema, allow_none=True, metadata={"description": "set when it followed"}
    )
