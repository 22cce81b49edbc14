"""Shared fixtures (flaskr style): app, client, runner, users and tokens.

The database is real: a temporary SQLite file by default, PostgreSQL when DATABASE_URL is set
(.ci/run's second pass, with REDIS_URL for limiter storage and the token blocklist).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import text

from app import create_app
from app.config import normalise_database_url
from app.extensions import db
from tests import factories
from tests.factories import bearer
from tests.notify_receivers import SmtpServer

os.environ.setdefault("LOG_LEVEL", "WARNING")
# Retrain workers the tests start run uncapped (their retrains are what the tests wait for);
# tests/test_retrain_worker.py checks the cap on a worker of its own.
os.environ.setdefault("RETRAIN_CPU_SHARE", "0")


def _on_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `postgres` (`redis`) belong to the PostgreSQL (REDIS_URL) pass, `smoke` to the
    embedded-defaults pass: deselected (not skipped) elsewhere."""
    # `smoke` (the README walk-through) always runs on the embedded defaults, whatever DATABASE_URL
    # says: once, in the embedded-defaults pass, is enough.
    enabled = {
        "postgres": _on_postgres(),
        "redis": bool(os.environ.get("REDIS_URL")),
        "smoke": not os.environ.get("DATABASE_URL"),
    }
    off = [marker for marker, on in enabled.items() if not on]
    if not off:
        return
    keep = [item for item in items if not any(item.get_closest_marker(m) for m in off)]
    dropped = [item for item in items if any(item.get_closest_marker(m) for m in off)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return normalise_database_url(url)
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A temporary local MLflow store (SQLite + artifacts beside it), shared by the session.

    v1 and v2 are trained and registered in it once, lazily, by the `models` fixture.
    """
    root = tmp_path_factory.mktemp("mlruns")
    return f"sqlite:///{root / 'mlflow.db'}"


@pytest.fixture(scope="session")
def models(mlflow_uri: str) -> dict:
    from app.ml.tracking import bootstrap

    limit = int(os.environ["TEST_TRAIN_LIMIT"]) if os.environ.get("TEST_TRAIN_LIMIT") else None
    return bootstrap(mlflow_uri, limit=limit, log=lambda _msg: None)


TEMPLATE_LIMIT = 500  # small bootstrapped registry for retrain tests: quick to train, private copies


@pytest.fixture(scope="session")
def template_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry bootstrapped on TEMPLATE_LIMIT images, built once per session."""
    from app.ml import registry, tracking

    base = tmp_path_factory.mktemp("template")
    tracking.bootstrap(registry.default_tracking_uri(base), limit=TEMPLATE_LIMIT, log=lambda _m: None)
    return base


@pytest.fixture
def store_uri(template_store: Path, tmp_path: Path) -> str:
    """A private copy of the template registry (the DB only: the template's artifacts are read
    in place, new artifacts go under tmp_path), so a test may move aliases freely."""
    from app.ml import registry

    (tmp_path / "mlruns").mkdir()
    shutil.copy(template_store / "mlruns" / "mlflow.db", tmp_path / "mlruns" / "mlflow.db")
    uri = registry.default_tracking_uri(tmp_path)
    registry.configure(uri)  # MLflow's fluent API is global: point it here for this test
    return uri


@pytest.fixture(scope="session")
def base_overrides(database_url: str, mlflow_uri: str) -> dict:
    return {
        "MLFLOW_TRACKING_URI": mlflow_uri,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "BCRYPT_LOG_ROUNDS": 4,  # fast hashes in tests; production uses bcrypt's default (12)
        "SECRET_KEY": "test-secret-key-0123456789abcdef0123",
        "JWT_SECRET_KEY": "test-jwt-secret-0123456789abcdef0123",
        # No notification deliverer in any test app (development-config ones too) unless a test
        # turns it on: a forgotten one would claim other tests' outbox rows in the shared database.
        "NOTIFY_DELIVERER": False,
        # Likewise no scheduler thread: it would start other tests' retrains from their labels.
        "SCHEDULER_ENABLED": False,
    }


@pytest.fixture(scope="session")
def _schema(base_overrides: dict) -> Iterator[None]:
    app = create_app("testing", base_overrides)
    with app.app_context():
        db.drop_all()
        _drop_alembic_version()
        db.create_all()
    yield
    with app.app_context():
        db.drop_all()
        db.engine.dispose()


def _drop_alembic_version() -> None:
    db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
    db.session.commit()


def _clear_tables() -> None:
    db.session.rollback()
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    db.session.commit()


@pytest.fixture
def make_app(_schema: None, base_overrides: dict) -> Iterator[Callable[..., Flask]]:
    """Factory for an app with extra config; tables are emptied after the test."""
    apps: list[Flask] = []

    def factory(**overrides: object) -> Flask:
        cfg = {**base_overrides, "KEY_NAMESPACE": f"test-{uuid.uuid4().hex[:12]}", **overrides}
        app = create_app("testing", cfg)
        apps.append(app)
        return app

    yield factory
    if apps:
        with apps[0].app_context():
            _clear_tables()
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def make_user(app: Flask) -> Callable[..., dict]:
    """Create a user directly and return {"id", "username", "password"}."""
    from app.auth.services import create_user

    def factory(username: str | None = None, role: str = "user", password: str = "correct-horse-1") -> dict:
        username = username or f"user{uuid.uuid4().hex[:8]}"
        with app.app_context():
            user = create_user(username, password, role=role)
            return {"id": user.id, "username": username, "password": password, "role": role}

    return factory


@pytest.fixture
def sign_in() -> Callable[..., tuple[FlaskClient, dict]]:
    """sign_in(app, role="user") -> (a test client of `app`, headers with a fresh user's token).

    For tests that build their own app with make_app(...)."""

    def do(app: Flask, role: str = "user") -> tuple[FlaskClient, dict]:
        from app.auth.services import create_user

        username, password = f"user{uuid.uuid4().hex[:8]}", "correct-horse-1"
        with app.app_context():
            create_user(username, password, role=role)
        client = app.test_client()
        return client, bearer(factories.sign_in(client, username, password)["access_token"])

    return do


@pytest.fixture
def login(client: FlaskClient) -> Callable[[dict], dict]:
    def do_login(user: dict) -> dict:
        return factories.sign_in(client, user["username"], user["password"])

    return do_login


@pytest.fixture
def user_headers(make_user: Callable[..., dict], login: Callable[[dict], dict]) -> dict:
    tokens = login(make_user())
    return {"Authorization": f"Bearer {tokens['access_token']}"}


@pytest.fixture
def admin_headers(make_user: Callable[..., dict], login: Callable[[dict], dict]) -> dict:
    tokens = login(make_user(role="admin"))
    return {"Authorization": f"Bearer {tokens['access_token']}"}


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # .ci/run's PostgreSQL + Redis pass sets NO_SKIPS=1: a skipped test there fails the run.
    if os.environ.get("NO_SKIPS") == "1" and _skipped:
        print(f"\nNO_SKIPS=1 but {len(_skipped)} test(s) skipped: {', '.join(_skipped[:10])}")
        session.exitstatus = 1


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real local SMTP server (aiosmtpd) that keeps the messages it receives."""
    server = SmtpServer()
    yield server
    server.close()
