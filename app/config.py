"""Configuration classes, read from environment variables (and an optional .env file).

Embedded defaults: SQLite file under instance/, local MLflow store under mlruns/, in-memory
rate-limit storage. Scale-out is configuration only: DATABASE_URL, REDIS_URL, MLFLOW_TRACKING_URI.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from dotenv import load_dotenv

from app.config_loop import LoopSettings, OperationsSettings, check_loop_settings
from app.envvars import ConfigError
from app.envvars import env_bool as _env_bool
from app.envvars import env_float as _env_float
from app.envvars import env_int as _env_int

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")

# The secret earlier versions shipped as the development default. It is published (in this
# repository's history), so no environment accepts it any more; without SECRET_KEY/JWT_SECRET_KEY,
# development and testing use a random per-instance secret kept under instance/ (see
# app.secrets), production refuses to start.
DEV_SECRET = "dev-only-insecure-secret-do-not-use-in-production"

# Secrets that must never reach production (the dev default and common placeholders).
PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "dev",
        "dev-secret",
        "dev-secret-change-me",
        "change-me",
        "changeme",
        "secret",
        "super-secret",
        "your-secret-key",
        "jwt-secret-string",
        "placeholder",
        DEV_SECRET,
    }
)


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgres URLs (psycopg2 is not installed)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def default_mlflow_uri() -> str:
    from app.ml.registry import default_tracking_uri  # mlflow is loaded only if the default is used

    return default_tracking_uri(BASE_DIR)


class Config(LoopSettings, OperationsSettings):
    """Values shared by every environment; read when the class body runs (the learning loop's
    and the operations' settings in app/config_loop.py)."""

    SECRET_KEY = os.environ.get("SECRET_KEY") or None
    JWT_SECRET_KEY = os.environ.get("JWT_SECRET_KEY") or None
    JWT_ACCESS_TOKEN_EXPIRES = timedelta(seconds=_env_int("JWT_ACCESS_TOKEN_EXPIRES", 15 * 60))
    JWT_REFRESH_TOKEN_EXPIRES = timedelta(seconds=_env_int("JWT_REFRESH_TOKEN_EXPIRES", 30 * 24 * 3600))
    JWT_TOKEN_LOCATION = ["headers"]
    JWT_ALGORITHM = "HS256"
    JWT_DECODE_ALGORITHMS = ["HS256"]

    SQLALCHEMY_DATABASE_URI = normalise_database_url(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'instance' / 'digitserve.db'}")
    )
    # Server databases check a pooled connection only after it sat idle (app/db_ping.py), not on
    # every checkout as pool_pre_ping would; SQLite needs neither.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    DB_PING_IDLE_SECONDS = _env_float("DB_PING_IDLE_SECONDS", 1.0)
    # Server databases: connections each worker keeps open. A gevent worker runs many requests at
    # once and an overflow connection is closed when returned, so SQLAlchemy's default of 5 made
    # most requests under load open a new PostgreSQL backend (connect + close: ~7 % of a worker's
    # time at 32 clients). Requests past size + overflow wait for a connection.
    DB_POOL_SIZE = _env_int("DB_POOL_SIZE", 16)
    DB_MAX_OVERFLOW = _env_int("DB_MAX_OVERFLOW", 4)
    REDIS_URL = os.environ.get("REDIS_URL") or None

    MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 5 * 1024 * 1024)
    # Declared pixels of an upload (4096x4096); formats decoded at full size stop at 2048x2048
    # (app/ml/decode_budget.py). Values above 4096x4096 are capped by Pillow's guard.
    MAX_IMAGE_PIXELS = _env_int("MAX_IMAGE_PIXELS", 4096 * 4096)
    BATCH_MAX_FILES = _env_int("BATCH_MAX_FILES", 64)
    PROXY_COUNT = _env_int("PROXY_COUNT", 0)

    # Flask-Limiter: storage is Redis when REDIS_URL is set; otherwise a SQLite file on tmpfs shared
    # by the machine's workers (app/ratelimit_storage.py; chosen in create_app), memory in tests.
    RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_DEFAULT = os.environ.get("RATELIMIT_DEFAULT", "200 per day;50 per hour")
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or REDIS_URL or ""
    RATELIMIT_HEADERS_ENABLED = True
    # Redis (limit storage) down: fail open to per-process in-memory limits, with Flask-Limiter's
    # logged warning, rather than failing every request. Predictions stay available and login is
    # still throttled (per worker instead of deployment-wide); Redis is used again once it answers.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = _env_bool("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    # Seconds a worker may reuse a user's row (role, active) and a token's "not revoked" answer:
    # a demotion, deactivation or logout reaches every worker within this time (app/auth/cache.py).
    AUTH_CACHE_SECONDS = _env_float("AUTH_CACHE_SECONDS", 0.5)
    # Prefix of every key this app writes to Redis / the limiter storage.
    KEY_NAMESPACE = os.environ.get("KEY_NAMESPACE", "digitserve")
    # Signed-in callers (per user): admin pages and API, feedback, everything else without its own.
    # Admin: a dashboard polling every 2 s for an hour is 1,800. Feedback: one verdict (or a
    # correction) per prediction of the day (100 v1 + 150 v2), with room to spare.
    ADMIN_RATE_LIMIT = os.environ.get("ADMIN_RATE_LIMIT", "5000 per hour")
    FEEDBACK_RATE_LIMIT = os.environ.get("FEEDBACK_RATE_LIMIT", "1000 per day")
    USER_RATE_LIMIT = os.environ.get("USER_RATE_LIMIT", "")  # empty: RATELIMIT_DEFAULT
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
    # Failed sign-ins per account from clients it never signed in from (device cookie / address) ...
    LOGIN_ACCOUNT_RATE_LIMIT = os.environ.get("LOGIN_ACCOUNT_RATE_LIMIT", "10 per minute")
    # ... and per account and trusted device/address: failures elsewhere never lock these out.
    LOGIN_TRUSTED_RATE_LIMIT = os.environ.get("LOGIN_TRUSTED_RATE_LIMIT", "10 per minute")
    REGISTER_RATE_LIMIT = os.environ.get("REGISTER_RATE_LIMIT", "20 per hour")
    PREDICT_V1_LIMIT = os.environ.get("PREDICT_V1_LIMIT", "100 per day")
    PREDICT_V2_LIMIT = os.environ.get("PREDICT_V2_LIMIT", "150 per day")

    MLFLOW_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI") or default_mlflow_uri()
    MLFLOW_UI_URL = os.environ.get("MLFLOW_UI_URL", "")
    MODEL_NAME = os.environ.get("MODEL_NAME", "digit-classifier")
    MODEL_RELOAD_INTERVAL = _env_float("MODEL_RELOAD_INTERVAL", 5.0)
    # Where retrains run (app/retrain/runner.py): "process" (embedded, started by gunicorn), "rq"
    # (queue workers on REDIS_URL), "thread" (in the requesting process: tests, `flask run`).
    RETRAIN_EXECUTOR = os.environ.get("RETRAIN_EXECUTOR") or ("rq" if REDIS_URL else "process")

    METRICS_ENABLED = _env_bool("METRICS_ENABLED", True)
    METRICS_PUBLIC = _env_bool("METRICS_PUBLIC", False)
    SOCKETIO_CORS_ORIGINS = os.environ.get("SOCKETIO_CORS_ORIGINS", "")
    # Open Socket.IO connections per client address and worker; seconds a connection may stay
    # open without an authenticated namespace connect (app/realtime/connections.py).
    SOCKET_MAX_PER_ADDRESS = _env_int("SOCKET_MAX_PER_ADDRESS", 20)
    SOCKET_AUTH_TIMEOUT = _env_float("SOCKET_AUTH_TIMEOUT", 10.0)
    # Opt-in `X-Served-By: <worker pid>` response header: shows which gunicorn worker answered
    # (the scale-out test uses it to prove requests spread across workers). Off by default.
    SERVED_BY_HEADER = _env_bool("SERVED_BY_HEADER", False)

    # flask-smorest / OpenAPI
    API_TITLE = "digitserve"
    API_VERSION = "1.0.0"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "/docs"
    OPENAPI_SWAGGER_UI_URL = "/static/swagger-ui/"

    @classmethod
    def validate(cls, cfg: dict) -> None:
        """Environment-specific checks; raise ConfigError to refuse to start.

        Every environment refuses a published secret (the old development default, placeholders):
        a token signed with it would be accepted by anyone's copy of the service.
        """
        check_loop_settings(cfg)
        for key in ("SECRET_KEY", "JWT_SECRET_KEY"):
            value = cfg.get(key)
            if value is not None and value.strip().lower() in PLACEHOLDER_SECRETS:
                raise ConfigError(
                    f"{key} is a published placeholder; unset it (development makes a random one "
                    "under instance/) or set a random value of 32+ characters"
                )


class DevelopmentConfig(Config):
    DEBUG = False


class TestingConfig(Config):
    TESTING = True
    # Short-lived tokens keep expiry tests fast; each test app gets its own limiter namespace.
    JWT_ACCESS_TOKEN_EXPIRES = timedelta(minutes=5)
    SQLALCHEMY_DATABASE_URI = normalise_database_url(os.environ.get("DATABASE_URL", "sqlite:///:memory:"))
    MODEL_RELOAD_INTERVAL = 0.0
    # In-process test apps have no retrain process beside them.
    RETRAIN_EXECUTOR = os.environ.get("TEST_RETRAIN_EXECUTOR", "thread")
    # Test apps deliver notifications only when a test asks for it (NOTIFY_DELIVERER=True).
    NOTIFY_DELIVERER = False
    # Test apps tick only when a test asks for it (SCHEDULER_ENABLED=True or Scheduler.tick()).
    SCHEDULER_ENABLED = False


class ProductionConfig(Config):

    @classmethod
    def validate(cls, cfg: dict) -> None:
        # In the function: importing app.auth runs the whole auth package, which imports this module.
        from app.auth.strength import secret_problem

        check_loop_settings(cfg)
        for key in ("SECRET_KEY", "JWT_SECRET_KEY"):
            value = cfg.get(key) or ""
            problem = "missing" if not value else secret_problem(value)
            if value.strip().lower() in PLACEHOLDER_SECRETS or problem:
                raise ConfigError(
                    f"{key} is {problem or 'a placeholder'}; set a random value of 32+ characters "
                    "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))') "
                    "in the environment before starting in production"
                )


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def get_config(name: str | None = None) -> type[Config]:
    name = (name or os.environ.get("APP_ENV") or "development").lower()
    try:
        return CONFIGS[name]
    except KeyError as exc:
        raise ConfigError(f"unknown APP_ENV {name!r}; use one of {sorted(CONFIGS)}") from exc
