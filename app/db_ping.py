"""Check a pooled server-database connection before use only when it has sat idle.

SQLAlchemy's `pool_pre_ping` sends `SELECT 1` on every checkout: one more round trip per request
(with BEGIN, INSERT and COMMIT, the fourth of a prediction's on PostgreSQL). A connection used a
moment ago is alive; the check matters for one that sat in the pool while the server restarted
or a network device dropped it. So only a connection idle for DB_PING_IDLE_SECONDS or more is
pinged (0: every checkout, as pool_pre_ping). A connection the server dropped within that window
fails the one request that uses it (503, nothing stored), and SQLAlchemy then discards the pool's
older connections.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError


def ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is not None and time.monotonic() - since < idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as err:
            if dialect.is_disconnect(err, dbapi_connection, None):
                # The pool discards this connection and checks out a fresh one.
                raise DisconnectionError() from err
            raise
