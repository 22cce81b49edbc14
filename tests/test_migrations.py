"""`flask db upgrade`, `downgrade base`, `upgrade` from an empty database, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from app.config import normalise_database_url

ROOT = Path(__file__).resolve().parent.parent
TABLES = {
    "users",
    "revoked_tokens",
    "predictions",
    "feedback",
    "retrain_jobs",
    "ab_settings",
    "ab_phases",
    "webhooks",
    "notification_outbox",
    "rollouts",
    "shadow_predictions",
    "alias_moves",
    "retrain_policy",
    "scheduler_leases",
    "monitoring_state",
    "alembic_version",
}


def _flask_db(url: str, *args: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "FLASK_APP": "wsgi:app", "APP_ENV": "development"}
    proc = subprocess.run(
        [sys.executable, "-m", "flask", "db", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def _cycle(url: str) -> None:
    engine = create_engine(url)
    try:
        _flask_db(url, "upgrade")
        assert TABLES <= set(inspect(engine).get_table_names())
        _flask_db(url, "downgrade", "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        _flask_db(url, "upgrade")
        assert TABLES <= set(inspect(engine).get_table_names())
        _assert_models_match(engine)
    finally:
        engine.dispose()


def _assert_models_match(engine) -> None:  # noqa: ANN001
    """The migrated schema is what the models declare (Alembic's autogenerate finds nothing)."""
    import warnings

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import app.factory  # noqa: F401 - imports every model module, so metadata has every table
    from app.extensions import db

    with engine.connect() as conn, warnings.catch_warnings():
        # Expression indexes (lower(username)) cannot be reflected on SQLite: skipped, not a diff.
        warnings.simplefilter("ignore")
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == [], diff


def test_migrations_on_sqlite(tmp_path):
    _cycle(f"sqlite:///{tmp_path / 'migrate.db'}")


def _postgres_admin_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return normalise_database_url(url) if url.startswith(("postgres://", "postgresql")) else None


@pytest.mark.postgres
def test_migrations_on_postgresql():
    admin_url = _postgres_admin_url()
    assert admin_url is not None
    name = f"digitserve_migrate_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        _cycle(admin_url.rsplit("/", 1)[0] + f"/{name}")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
