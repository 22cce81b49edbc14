from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import validate

from app.notify.outbox import EVENTS
from app.pagination import PageSchema
from app.timeutil import UtcDateTime

SECRET_MIN_LENGTH = 16


class WebhookCreateSchema(ma.Schema):
    url = ma.fields.Url(
        required=True,
        schemes={"http", "https"},
        require_tld=False,
        validate=validate.Length(max=2048),
        metadata={"description": "http(s) URL; fetched from the server (admins only)"},
    )
    events = ma.fields.List(
        ma.fields.String(validate=validate.OneOf(EVENTS)),
        required=True,
        validate=validate.Length(min=1, max=len(EVENTS)),
        metadata={"description": f"Subset of {list(EVENTS)}"},
    )
    secret = ma.fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(min=SECRET_MIN_LENGTH, max=255),
        metadata={"description": "Key of the X-Digitserve-Signature HMAC; never returned"},
    )

    @ma.post_load
    def _unique_events(self, data: dict, **_kwargs: object) -> dict:
        data["events"] = sorted(set(data["events"]), key=EVENTS.index)
        return data


class WebhookSchema(ma.Schema):
    id = ma.fields.Integer()
    url = ma.fields.String()
    events = ma.fields.List(ma.fields.String())
    created_by = ma.fields.Integer(allow_none=True)
    created_at = UtcDateTime()


class WebhookPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(WebhookSchema))


class DeliverySchema(ma.Schema):
    id = ma.fields.Integer()
    delivery_id = ma.fields.String(
        attribute="uid", metadata={"description": "The X-Digitserve-Delivery header"}
    )
    event = ma.fields.String()
    status = ma.fields.String(metadata={"description": "pending, sending, delivered or failed"})
    attempts = ma.fields.Integer()
    status_code = ma.fields.Integer(
        attribute="last_status_code", allow_none=True, metadata={"description": "Last HTTP status"}
    )
    last_error = ma.fields.String(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    next_attempt_at = UtcDateTime(allow_none=True, metadata={"description": "While pending"})
    delivered_at = UtcDateTime(allow_none=True)


    @ma.post_dump(pass_original=True)
    def _next_attempt_only_while_pending(self, data: dict, row: Any, **_kw: Any) -> dict:
        if row.status != "pending":
            data["next_attempt_at"] = None
        return data


class DeliveryPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(DeliverySchema))


class QueuedDeliverySchema(ma.Schema):
    id = ma.fields.Integer()
    delivery_id = ma.fields.String(attribute="uid")
    status = ma.fields.String()
