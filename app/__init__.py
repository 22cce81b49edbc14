"""digitserve: a Flask REST API that serves handwritten-digit classifiers."""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import Config, ConfigError, get_config


def create_app(config: str | type[Config] | None = None, overrides: dict[str, Any] | None = None) -> Flask:
    """Build the application for a config name ("development", "testing", "production") or class."""
    from sqlalchemy.exc import ArgumentError

    from app.errors import register_error_handlers
    from app.extensions import api, bcrypt, db, jwt, limiter, migrate, socketio

    config_cls = config if isinstance(config, type) else get_config(config)
    app = Flask(__name__, instance_path=str(os.environ.get("INSTANCE_PATH") or _instance_dir()))
    app.config.from_object(config_cls)
    if overrides:
        app.config.update(overrides)
    from app.instance_secret import fill_missing_secrets

    fill_missing_secrets(app.config, app.instance_path, production=config_cls.ENV_NAME == "production")
    config_cls.validate(app.config)
    _configure_logging(app)
    os.makedirs(app.instance_path, exist_ok=True)

    if app.config["PROXY_COUNT"] > 0:
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)  # type: ignore[method-assign]

    try:
        db.init_app(app)
    except ArgumentError as exc:  # unknown scheme or unparsable URL: say so in one line
        raise ConfigError(f"DATABASE_URL is not a usable database URL: {exc}") from None
    _tune_sqlite(app)
    migrate.init_app(app, db, directory=_MIGRATIONS_DIR, render_as_batch=True)
    bcrypt.init_app(app)
    jwt.init_app(app)
    _choose_limits_storage(app)
    limiter.init_app(app)
    api.init_app(app)
    app.extensions["digitserve.api"] = api
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    register_error_handlers(app)
    from app.security import init_security

    init_security(app)

    redis_url = app.config.get("REDIS_URL")
    if redis_url:
        import redis

        # Bounded waits: a stalled Redis must turn into a quick error, not a hung request.
        app.extensions["digitserve.redis"] = redis.Redis.from_url(
            redis_url, socket_connect_timeout=3, socket_timeout=3
        )
    from app.realtime.guard import client_manager

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

    _import_models()
    from app.admin.views import blp as admin_blp
    from app.auth import init_auth
    from app.auth.views import blp as auth_blp
    from app.health import blp as health_blp

    init_auth(app)
    from app.metrics import init_metrics
    from app.realtime import init_realtime

    init_metrics(app)
    init_realtime(app)
    api.register_blueprint(health_blp)
    api.register_blueprint(auth_blp)
    api.register_blueprint(admin_blp)

    from app.ab import init_ab
    from app.ab.views import blp as ab_blp
    from app.feedback.views import blp as feedback_blp
    from app.predict import init_predict
    from app.predict.views import blp as predict_blp

    init_predict(app)
    init_ab(app)
    api.register_blueprint(predict_blp)
    api.register_blueprint(ab_blp)
    api.register_blueprint(feedback_blp)

    from app.retrain import init_retrain
    from app.retrain.views import blp as retrain_blp

    init_retrain(app)
    api.register_blueprint(retrain_blp)
    from app.notify import init_notify

    init_notify(app, api)

    from app.web import init_web

    init_web(app)
    if app.config.get("SERVED_BY_HEADER"):
        _add_served_by_header(app)
    return app


def _choose_limits_storage(app: Flask) -> None:
    """Without REDIS_URL: one SQLite counter file per deployment on tmpfs, shared by its workers."""
    import hashlib

    from app import ratelimit_storage  # noqa: F401 - registers the sqlite-limits:// scheme

    if app.config.get("RATELIMIT_STORAGE_URI"):
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
    import sys

    monkey = sys.modules.get("gevent.monkey")
    return "gevent" if monkey is not None and monkey.is_module_patched("socket") else "threading"


def _tune_sqlite(app: Flask) -> None:
    """Embedded SQLite: WAL journal and synchronous=NORMAL on every connection.

    Every prediction is a commit; in the default rollback-journal mode each commit fsyncs several
    times (about 10 ms here, most of a request's time) and a writer blocks the other workers'
    readers. WAL fsyncs only at checkpoints and lets readers run beside the writer; a power loss
    may lose the last commits but never corrupts the file. PostgreSQL is left as configured.
    """
    from sqlalchemy import event

    from app.extensions import db

    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite":
        return
    if engine.url.database and engine.url.database != ":memory:":
        from app.filelock import FileLock

        app.extensions["digitserve.sqlite_write_lock"] = FileLock(f"{engine.url.database}.writelock")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):  # noqa: ANN001, ANN202 - SQLAlchemy event hook
        import sqlite3

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


def _add_served_by_header(app: Flask) -> None:
    # os.getpid() is read per response, not once here: gunicorn may fork after create_app (preload).
    @app.after_request
    def served_by(response):  # noqa: ANN001, ANN202 - Flask hook
        response.headers["X-Served-By"] = str(os.getpid())
        return response


_MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")


def _instance_dir() -> str:
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "instance")


def _import_models() -> None:
    # Every model module, so that metadata (create_all, Alembic autogenerate) sees all tables.
    import app.ab.models  # noqa: F401
    import app.auth.models  # noqa: F401
    import app.feedback.models  # noqa: F401
    import app.notify.models  # noqa: F401
    import app.predict.models  # noqa: F401
    import app.retrain.models  # noqa: F401


def _configure_logging(app: Flask) -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app.logger.setLevel(level)


__all__ = ["create_app", "ConfigError"]
