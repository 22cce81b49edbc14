"""create_app, read top to bottom: configure, register extensions and error handlers, then each
feature in order, then the start-up I/O (app/startup.py)."""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import sys
from collections.abc import Callable
from typing import Any

import redis
from flask import Flask
from sqlalchemy import Engine, event
from sqlalchemy.exc import ArgumentError
from werkzeug.middleware.proxy_fix import ProxyFix

# Every model module, so that metadata (create_all, Alembic autogenerate) sees all tables.
import app.ab.models  # noqa: F401
import app.aliases.models  # noqa: F401
import app.auth.models  # noqa: F401
import app.feedback.models  # noqa: F401
import app.monitoring.models  # noqa: F401
import app.notify.models  # noqa: F401
import app.policy.models  # noqa: F401
import app.predict.models  # noqa: F401
import app.retrain.models  # noqa: F401
import app.rollout.models  # noqa: F401
from app.ab import init_ab
from app.admin import init_admin
from app.aliases import init_aliases
from app.auth import init_auth
from app.config import Config, ConfigError, ProductionConfig, get_config
from app.db_ping import ping_idle_connections
from app.errors import register_error_handlers
from app.extensions import api, bcrypt, db, jwt, limiter, migrate, socketio
from app.feedback import init_feedback
from app.filelock import FileLock
from app.health import init_health
from app.instance_secret import fill_missing_secrets
from app.metrics import init_metrics
from app.monitoring import init_monitoring
from app.multipart import init_multipart
from app.notify import init_notify
from app.policy import init_policy
from app.predict import init_predict
from app.ratelimit_storage import init_own_hits, window_storage_uri  # registers sqlite-limits://
from app.realtime import init_realtime
from app.realtime.guard import client_manager
from app.retrain import init_retrain
from app.review import init_review
from app.rollout import init_rollout
from app.security import init_security
from app.startup import run_startup
from app.state import set_redis_client, set_sqlite_write_lock
from app.web import init_web

ROOT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIGRATIONS_DIR = os.path.join(ROOT_DIR, "migrations")


def init_served_by(app: Flask) -> None:
    """Opt-in `X-Served-By: <worker pid>` header (SERVED_BY_HEADER)."""
    if not app.config.get("SERVED_BY_HEADER"):
        return

    # os.getpid() is read per response, not once here: gunicorn may fork after create_app (preload).
    @app.after_request
    def served_by(response):  # noqa: ANN001, ANN202 - Flask hook
        response.headers["X-Served-By"] = str(os.getpid())
        return response


# The features, in the order they register (init_multipart first: it only swaps werkzeug's
# multipart decoder). The order matters where a feature uses another:
# security's JSON hook first (ahead of the limiter's), then the metrics hooks that time every
# request; predict makes the model store that ab and
# retrain use (init_ab refuses to run without it); web and the served-by header last, so their
# after_request hooks run first.
FEATURES: tuple[Callable[[Flask], None], ...] = (
    init_multipart,
    init_security,
    init_metrics,
    init_health,
    init_auth,
    init_realtime,
    init_admin,
    init_aliases,
    init_predict,
    init_ab,
    init_feedback,
    init_review,
    init_retrain,
    init_rollout,
    init_notify,
    init_monitoring,
    init_policy,
    init_web,
    init_served_by,
)


def create_app(config: str | type[Config] | None = None, overrides: dict[str, Any] | None = None) -> Flask:
    """Build the application for a config name ("development", "testing", "production") or class."""
    app = configure(config, overrides)
    register_extensions(app)
    register_error_handlers(app)
    for init_feature in FEATURES:
        init_feature(app)
    run_startup(app)
    return app


def configure(config: str | type[Config] | None, overrides: dict[str, Any] | None) -> Flask:
    """The Flask object with its validated config, logging, instance folder and proxy handling."""
    config_cls = config if isinstance(config, type) else get_config(config)
    instance = os.environ.get("INSTANCE_PATH") or os.path.join(ROOT_DIR, "instance")
    # Named after the package: its folder holds static/ and templates/, and app.logger is "app".
    app = Flask("app", instance_path=str(instance))
    app.config.from_object(config_cls)
    if overrides:
        app.config.update(overrides)
    fill_missing_secrets(app.config, app.instance_path, production=issubclass(config_cls, ProductionConfig))
    config_cls.validate(app.config)
    _configure_logging(app)
    os.makedirs(app.instance_path, exist_ok=True)
    if app.config["PROXY_COUNT"] > 0:
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)  # type: ignore[method-assign]
    return app


def register_extensions(app: Flask) -> None:
    """Bind the shared extension objects (app/extensions.py) and the app's Redis client."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
            "pool_size": app.config["DB_POOL_SIZE"],
            "max_overflow": app.config["DB_MAX_OVERFLOW"],
        }
    try:
        db.init_app(app)
    except ArgumentError as exc:  # unknown scheme or unparsable URL: say so in one line
        raise ConfigError(f"DATABASE_URL is not a usable database URL: {exc}") from None
    with app.app_context():
        engine = db.engine
    _tune_sqlite(app, engine)
    _ping_idle_connections(app, engine)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    bcrypt.init_app(app)
    jwt.init_app(app)
    _choose_limits_storage(app)
    init_own_hits(app)  # ahead of the limiter's own hooks
    limiter.init_app(app)
    api.init_app(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    redis_url = app.config.get("REDIS_URL")
    if redis_url:
        # Bounded waits: a stalled Redis must turn into a quick error, not a hung request.
        set_redis_client(app, redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3))
    socketio.init_app(
        app,
        message_queue=redis_url,
        # Re-checks admin sockets on every emit and closes revoked ones, also for emits that come
        # through the Redis queue. Per-deployment channel: several deployments (or test runs) may
        # share one Redis.
        client_manager=client_manager(app, redis_url, f"{app.config['KEY_NAMESPACE']}-socketio"),
        async_mode=socketio_async_mode(),
        cors_allowed_origins=[o for o in app.config["SOCKETIO_CORS_ORIGINS"].split(",") if o] or None,
    )


def _choose_limits_storage(app: Flask) -> None:
    """Without REDIS_URL: one SQLite counter file per deployment on tmpfs, shared by its workers."""
    if app.config.get("RATELIMIT_STORAGE_URI"):
        app.config["RATELIMIT_STORAGE_URI"] = window_storage_uri(app.config["RATELIMIT_STORAGE_URI"])
        return
    if app.config.get("TESTING"):
        app.config["RATELIMIT_STORAGE_URI"] = "memory://"
        return
    ident = f"{app.config['SQLALCHEMY_DATABASE_URI']}|{app.config['KEY_NAMESPACE']}|{app.instance_path}"
    name = f"digitserve-limits-{hashlib.sha256(ident.encode()).hexdigest()[:16]}.db"
    folder = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else app.instance_path
    app.config["RATELIMIT_STORAGE_URI"] = f"sqlite-limits://{os.path.join(folder, name)}"


def socketio_async_mode() -> str:
    """"gevent" inside a gevent-patched process (gunicorn's gevent worker), "threading" otherwise.

    Flask-SocketIO's auto-detection would pick gevent merely because it is installed, which
    breaks the unpatched processes (tests' threaded servers, the CLI).
    """
    monkey = sys.modules.get("gevent.monkey")
    return "gevent" if monkey is not None and monkey.is_module_patched("socket") else "threading"


def _tune_sqlite(app: Flask, engine: Engine) -> None:
    """Embedded SQLite: WAL journal and synchronous=NORMAL on every connection.

    Every prediction is a commit; in the default rollback-journal mode each commit fsyncs several
    times (about 10 ms here, most of a request's time) and a writer blocks the other workers'
    readers. WAL fsyncs only at checkpoints and lets readers run beside the writer; a power loss
    may lose the last commits but never corrupts the file. PostgreSQL is left as configured.
    """
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite":
        return
    if engine.url.database and engine.url.database != ":memory:":
        set_sqlite_write_lock(app, FileLock(f"{engine.url.database}.writelock"))

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):  # noqa: ANN001, ANN202 - SQLAlchemy event hook
        cursor = dbapi_connection.cursor()
        try:
            # Persistent in the file once set (by `flask db upgrade`, before any worker starts);
            # ":memory:" answers "memory", harmless. If another process holds a lock right now,
            # keep this connection as it is rather than fail it: the next one sets it.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.OperationalError:
            pass
        finally:
            cursor.close()


def _ping_idle_connections(app: Flask, engine: Engine) -> None:
    # A server database's pool checks a connection that sat idle (app/db_ping.py).
    if engine.dialect.name != "sqlite" and not app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("pool_pre_ping"):
        ping_idle_connections(engine, app.config["DB_PING_IDLE_SECONDS"])


def _configure_logging(app: Flask) -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app.logger.setLevel(level)
