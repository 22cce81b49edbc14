"""Pooled PostgreSQL connections are checked only after sitting idle (app/db_ping.py): a server
restart while they sat in the pool costs no request; the check is skipped for one used a moment
ago, and the one request that meets a connection dropped within that window fails cleanly."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.config import normalise_database_url
from app.extensions import db
from tests.reliability.servers import PrivatePostgres

pytestmark = pytest.mark.postgres


@pytest.fixture
def private_pg():
    server = PrivatePostgres()
    yield server
    server.close()


def _app(private_pg: PrivatePostgres, base_overrides: dict, idle_seconds: float):  # noqa: ANN202
    from app import create_app

    return create_app(
        "testing",
        {
            **base_overrides,
            "SQLALCHEMY_DATABASE_URI": normalise_database_url(private_pg.url),
            "KEY_NAMESPACE": f"dbping-{uuid.uuid4().hex[:8]}",
            "DB_PING_IDLE_SECONDS": idle_seconds,
        },
    )


def _select_one(app) -> int:  # noqa: ANN001
    with app.app_context():
        try:
            return db.session.scalar(text("SELECT 1"))
        finally:
            db.session.remove()  # back to the pool, as at the end of a request


def _restart(private_pg: PrivatePostgres) -> None:
    private_pg.stop()
    private_pg.start()


def test_a_connection_idle_across_a_restart_is_replaced_before_use(private_pg, base_overrides):
    # The restart takes far longer than 50 ms: the pooled connection has sat idle past the limit.
    app = _app(private_pg, base_overrides, idle_seconds=0.05)
    assert _select_one(app) == 1
    _restart(private_pg)
    assert _select_one(app) == 1  # pinged, found dead, replaced: the caller never sees it
    assert app.test_client().get("/health/ready").status_code == 200


def test_without_the_check_the_first_use_after_a_restart_fails_and_the_pool_recovers(
    private_pg, base_overrides
):
    # What the check prevents, and the bound on it: a connection within the idle window is used
    # unchecked; a dead one fails that one use, and the next use gets a fresh connection.
    app = _app(private_pg, base_overrides, idle_seconds=3600)
    assert _select_one(app) == 1
    _restart(private_pg)
    with pytest.raises(DBAPIError) as failed:
        _select_one(app)
    assert failed.value.connection_invalidated
    assert _select_one(app) == 1
