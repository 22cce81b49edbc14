"""One way to page through a query: the query-string arguments, the page body, the SQL."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from sqlalchemy import Select, func, select

from app.extensions import db

# Pages past this are refused (422): a huge page number would overflow the SQL OFFSET (a 500).
MAX_PAGE = 1_000_000


class PageArgs(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=MAX_PAGE))
    page_size = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=200))


class PageSchema(ma.Schema):
    """Subclasses set `items` to a list of their item schema."""

    page = ma.fields.Integer()
    page_size = ma.fields.Integer()
    total = ma.fields.Integer()
    pages = ma.fields.Integer()


def paginate(stmt: Select, args: dict) -> dict[str, Any]:
    """The page `args` asks for of an ordered select, with the total count. The items are the rows
    themselves: the page schema's item schema dumps them."""
    page, size = args["page"], args["page_size"]
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = db.session.scalars(stmt.offset((page - 1) * size).limit(size)).all()
    return {
        "items": list(rows),
        "page": page,
        "page_size": size,
        "total": total,
        "pages": (total + size - 1) // size,
    }
