from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma


def utcnow() -> datetime:
    """Naive UTC: stored the same way on SQLite (no tz support) and PostgreSQL."""
    return datetime.now(UTC).replace(tzinfo=None)


def isoformat(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat(timespec="milliseconds") + "Z"


class UtcDateTime(ma.fields.DateTime):
    """Output field for the naive-UTC datetimes we store: serialised with an explicit +00:00.

    A bare ``2026-01-01T12:00:00`` is not an RFC 3339 ``date-time`` (the OpenAPI format the
    schema promises) and leaves clients to guess the zone.
    """

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


class EventDateTime(ma.fields.DateTime):
    """The Socket.IO events' datetime form (``isoformat``: milliseconds and ``Z``), which differs
    from the HTTP answers' ``UtcDateTime``; kept as it is for the clients that read the events."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return isoformat(value)
