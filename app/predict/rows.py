"""Writing answered rows (predictions, shadow answers) with one driver-level INSERT each.

Every prediction is a write, so its cost is paid per request. Through the ORM (session.add +
flush) the unit of work cost twice the statement; through a Core ``session.execute`` SQLAlchemy's
per-call compilation lookup, execution context and result wrapping still took ~70 % of the write
(py-spy at 8 clients: 13 % of a worker's CPU, the database's own work 2 %). So the INSERT is
compiled once per table and dialect, the values go through SQLAlchemy's own bind processors for
that dialect (the stored values are exactly what the ORM would store: JSON text, SQLite's datetime
strings, booleans), and it runs on the session's own DBAPI connection, inside the session's
transaction: the caller's commit commits it with everything else.

On PostgreSQL (psycopg 3) `insert_and_commit` sends the INSERTs and the COMMIT in one pipeline: one
round trip to the server instead of three (BEGIN, INSERT, COMMIT), and the ids are read after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError

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


@contextmanager
def _as_sqlalchemy_errors(conn: Connection) -> Iterator[None]:
    """The driver's errors as SQLAlchemy's statements raise them (OperationalError answers 503,
    DataError 422: app/errors.py), with a lost connection invalidated so the pool drops it."""
    dialect = conn.dialect
    try:
        yield
    except dialect.loaded_dbapi.Error as err:
        lost = dialect.is_disconnect(err, conn.connection.dbapi_connection, None)
        if lost:
            conn.invalidate()
        raise DBAPIError.instance(
            None, None, err, dialect.loaded_dbapi.Error, connection_invalidated=lost, dialect=dialect
        ) from err


def _pipelines(driver_connection: Any) -> bool:
    """psycopg 3, not already in a pipeline."""
    pgconn = getattr(driver_connection, "pgconn", None)
    return hasattr(driver_connection, "pipeline") and pgconn is not None and not pgconn.pipeline_status


def insert_and_commit(predictions: list[Any], shadows: list[Any]) -> None:
    """INSERT the answered rows (predictions, then the shadow answers that refer to them) and
    commit the session, with anything else it holds; every row gets its id."""
    session = db.session()
    conn = session.connection()
    driver = conn.connection.driver_connection
    with _as_sqlalchemy_errors(conn):
        pending = session.new or session.dirty or session.deleted
        if shadows or pending or not predictions or not _pipelines(driver):
            # Shadow rows need their predictions' ids before they are written, and other pending
            # changes are flushed by the session's commit, in the same transaction: no pipeline.
            insert_rows(predictions)
            for shadow in shadows:
                shadow.prediction_id = shadow.prediction.id
            insert_rows(shadows)
        else:
            _pipelined(conn, driver, predictions)
    session.commit()


def _pipelined(conn: Connection, driver: Any, predictions: list[Any]) -> None:
    insert = _compiled(type(predictions[0]).__table__, conn.dialect)
    cursor = driver.cursor()
    try:
        with driver.pipeline():
            cursor.executemany(insert.sql, [insert.params(row) for row in predictions], returning=True)
            # psycopg sends the queued BEGIN, INSERTs and COMMIT, then waits once. The session's own
            # commit after it finds nothing to flush and the connection idle.
            driver.commit()
        for i, row in enumerate(predictions):  # one result set per row, in order
            if i:
                cursor.nextset()
            row.id = cursor.fetchone()[0]
    finally:
        cursor.close()
