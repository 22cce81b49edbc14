"""Writing answered rows (predictions, shadow answers) with one driver-level INSERT each.

Every prediction is a write, so its cost is paid per request. Through the ORM (session.add +
flush) the unit of work cost twice the statement; through a Core ``session.execute`` SQLAlchemy's
per-call compilation lookup, execution context and result wrapping still took ~70 % of the write
(py-spy at 8 clients: 13 % of a worker's CPU, the database's own work 2 %). So the INSERT is
compiled once per table and dialect, the values go through SQLAlchemy's own bind processors for
that dialect (the stored values are exactly what the ORM would store: JSON text, SQLite's datetime
strings, booleans), and it runs on the session's own DBAPI connection, inside the session's
transaction: the caller's commit commits it with everything else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect

from app.extensions import db


@dataclass(frozen=True)
class _Insert:
    sql: str
    names: tuple[str, ...]  # bind names, in the order of the positional placeholders
    positional: bool  # qmark / format (SQLite) or named (psycopg's pyformat)
    processors: dict[str, Callable[[Any], Any]]

    def params(self, row: Any) -> tuple | dict:
        values = [self._bound(name, getattr(row, name)) for name in self.names]
        return tuple(values) if self.positional else dict(zip(self.names, values, strict=True))

    def _bound(self, name: str, value: Any) -> Any:
        process = self.processors.get(name)
        return process(value) if process is not None else value


_COMPILED: dict[tuple[str, str, str], _Insert] = {}


def _compiled(table: Table, dialect: Dialect) -> _Insert:
    key = (table.name, dialect.name, dialect.driver)
    found = _COMPILED.get(key)
    if found is not None:
        return found
    keys = [c.key for c in table.columns if not c.primary_key]
    compiled = table.insert().returning(table.c.id).compile(dialect=dialect, column_keys=keys)
    names = tuple(compiled.positiontup) if compiled.positional else tuple(keys)
    processors = {}
    for name, bind in compiled.binds.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors[name] = process
    found = _COMPILED[key] = _Insert(str(compiled), names, bool(compiled.positional), processors)
    return found


def insert_rows(rows: list[Any]) -> None:
    """INSERT the (transient) rows of one model class in the session's transaction; set their ids.

    Every column but the primary key is written as the row holds it (the ORM's Python-side
    defaults are not applied: set them on the row). The rows stay outside the session: they are
    the answer, already complete.
    """
    if not rows:
        return
    conn = db.session.connection()
    insert = _compiled(type(rows[0]).__table__, conn.dialect)
    cursor = conn.connection.driver_connection.cursor()
    try:
        for row in rows:
            cursor.execute(insert.sql, insert.params(row))
            row.id = cursor.fetchone()[0]
    finally:
        cursor.close()
