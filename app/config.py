"""Configuration classes, read from environment variables (and an optional .env file).

Embedded defaults: SQLite file under instance/, local MLflow store under mlruns/, in-memory
rate-limit storage. Scale-out is configuration only: DATABASE_URL, REDIS_URL, MLFLOW_TRACKING_URI.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from dotenv import load_dotenv

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


class ConfigError(RuntimeError):
    """Raised when the configuration cannot run safely; the message is one line."""


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgres URLs (psycopg2 is not installed)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def default_mlflow_uri() -> str:
    from app.ml.registry import default_tracking_uri  # mlflow is loaded only if the default is used

    return default_tracking_uri(BASE_DIR)


def check_feedback_cap(cfg: dict) -> None:
    cap = cfg.get("FEEDBACK_USER_CAP")
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
        raise ConfigError(f"FEEDBACK_USER_CAP must be an integer >= 1, got {cap!r}")


class Config:
    """Values shared by every environment; read when the class body runs."""

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
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
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
    # Out-of-distribution inputs (app/ml/ood.py): "flag" answers and flags them, "refuse" answers
    # 422 out_of_distribution and stores nothing. OOD_THRESHOLD empty: the calibrated default.
    OOD_ACTION = os.environ.get("OOD_ACTION", "flag")
    OOD_THRESHOLD = _env_float("OOD_THRESHOLD", 0.0) or None
    AB_ARMS = os.environ.get("AB_ARMS", "v1:0.5,v2:0.5")
    AB_MODE = os.environ.get("AB_MODE", "sticky")
    AB_EXPERIMENT = os.environ.get("AB_EXPERIMENT", "v1-vs-v2")
    # How many verdicts one user weighs at most (issue 14): per arm (per version in the report) their
    # first FEEDBACK_USER_CAP count in Thompson posteriors and report figures; a retrain's feedback
    # set takes their newest FEEDBACK_USER_CAP labels (app/feedback/training.py says why).
    FEEDBACK_USER_CAP = _env_int("FEEDBACK_USER_CAP", 20)
    # Thompson mode: each process reads the arms' posterior counts (one aggregate over the
    # experiment's feedback) at most this often, not on every /api/ab/predict; 0: every request.
    AB_POSTERIOR_CACHE_SECONDS = _env_float("AB_POSTERIOR_CACHE_SECONDS", 1.0)

    # Clean labels (issue 14), see FEEDBACK_USER_CAP above.
    # A "wrong" verdict on a prediction at least this probable waits for an admin's review.
    REVIEW_CONFIDENCE = _env_float("REVIEW_CONFIDENCE", 0.95)
    # A user with at least REVIEW_MIN_VERDICTS verdicts (and as many from the other users) whose
    # disagreements are this improbable (one-sided binomial tail) at the other users' rate is an
    # outlier: their "wrong" verdicts wait.
    REVIEW_MIN_VERDICTS = _env_int("REVIEW_MIN_VERDICTS", 10)
    REVIEW_OUTLIER_ALPHA = _env_float("REVIEW_OUTLIER_ALPHA", 0.001)

    RETRAIN_FEEDBACK_WEIGHT = _env_float("RETRAIN_FEEDBACK_WEIGHT", 5.0)
    RETRAIN_PROMOTION_MARGIN = _env_float("RETRAIN_PROMOTION_MARGIN", 0.0)
    RETRAIN_DATA_LIMIT = _env_int("RETRAIN_DATA_LIMIT", 0) or None
    # A running job's process writes a heartbeat this often; a queued/running job whose heartbeat
    # is older than RETRAIN_STALE_SECONDS belonged to a dead process (or found no worker).
    RETRAIN_HEARTBEAT_SECONDS = _env_float("RETRAIN_HEARTBEAT_SECONDS", 5.0)
    RETRAIN_STALE_SECONDS = _env_float("RETRAIN_STALE_SECONDS", 30.0)
    # Where retrains run (app/retrain/runner.py): "process" (embedded, started by gunicorn), "rq"
    # (queue workers on REDIS_URL), "thread" (in the requesting process: tests, `flask run`).
    RETRAIN_EXECUTOR = os.environ.get("RETRAIN_EXECUTOR") or ("rq" if REDIS_URL else "process")

    # Staged rollouts (app/rollout): the defaults of a rollout's thresholds (a request may set its
    # own). alpha: error rate of the anytime-valid paired test; *_DISCORDANT: labelled images on
    # which exactly one version is right, at least / at most; SHADOW_MIN: shadowed predictions
    # before the canary; MIN_AGREEMENT: below it the shadow stage rolls back; CANARY_MIN /
    # FULL_MIN: predictions the candidate must serve in those stages before moving on.
    ROLLOUT_CANARY_SHARE = _env_float("ROLLOUT_CANARY_SHARE", 0.1)
    ROLLOUT_ALPHA = _env_float("ROLLOUT_ALPHA", 0.05)
    ROLLOUT_MIN_DISCORDANT = _env_int("ROLLOUT_MIN_DISCORDANT", 10)
    ROLLOUT_MAX_DISCORDANT = _env_int("ROLLOUT_MAX_DISCORDANT", 500)
    ROLLOUT_SHADOW_MIN = _env_int("ROLLOUT_SHADOW_MIN", 50)
    ROLLOUT_MIN_AGREEMENT = _env_float("ROLLOUT_MIN_AGREEMENT", 0.5)
    ROLLOUT_CANARY_MIN = _env_int("ROLLOUT_CANARY_MIN", 20)
    ROLLOUT_FULL_MIN = _env_int("ROLLOUT_FULL_MIN", 20)

    # Email (Flask-Mail's standard settings); no MAIL_SERVER: no email is queued or sent.
    MAIL_SERVER = os.environ.get("MAIL_SERVER") or None
    MAIL_PORT = _env_int("MAIL_PORT", 25)
    MAIL_USE_TLS = _env_bool("MAIL_USE_TLS", False)
    MAIL_USE_SSL = _env_bool("MAIL_USE_SSL", False)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "digitserve@localhost")
    MAIL_SUPPRESS_SEND = _env_bool("MAIL_SUPPRESS_SEND", False)
    # Notifications outbox (app/notify): the per-process background deliverer, its bounded ticks,
    # short timeouts and exponential backoff (NOTIFY_BACKOFF_SECONDS * 2**(attempt-1)).
    NOTIFY_DELIVERER = _env_bool("NOTIFY_DELIVERER", True)
    NOTIFY_POLL_SECONDS = _env_float("NOTIFY_POLL_SECONDS", 2.0)
    NOTIFY_BATCH = _env_int("NOTIFY_BATCH", 20)
    NOTIFY_HTTP_TIMEOUT = _env_float("NOTIFY_HTTP_TIMEOUT", 5.0)
    NOTIFY_SMTP_TIMEOUT = _env_float("NOTIFY_SMTP_TIMEOUT", 10.0)
    NOTIFY_LEASE_SECONDS = _env_float("NOTIFY_LEASE_SECONDS", 120.0)
    NOTIFY_MAX_ATTEMPTS = _env_int("NOTIFY_MAX_ATTEMPTS", 8)
    NOTIFY_BACKOFF_SECONDS = _env_float("NOTIFY_BACKOFF_SECONDS", 10.0)

    # The scheduler (app/policy): a thread per process, of which only the holder of a database
    # lease acts; it renews the lease every tick, another takes over after it expires.
    SCHEDULER_ENABLED = _env_bool("SCHEDULER_ENABLED", True)
    SCHEDULER_TICK_SECONDS = _env_float("SCHEDULER_TICK_SECONDS", 10.0)
    SCHEDULER_LEASE_SECONDS = _env_float("SCHEDULER_LEASE_SECONDS", 30.0)
    # Drift and estimated accuracy (app/monitoring, docs/monitoring.md): the window of recent
    # predictions per alias, the smallest window that is tested, the family-wise alarm level
    # (Bonferroni over the two tests), permutations of the MMD test, the reference sample size and
    # how long a computed answer is reused (admins refreshing must not burn CPU).
    MONITORING_WINDOW = _env_int("MONITORING_WINDOW", 500)
    MONITORING_MIN_WINDOW = _env_int("MONITORING_MIN_WINDOW", 100)
    MONITORING_ALPHA = _env_float("MONITORING_ALPHA", 0.01)
    MONITORING_PERMUTATIONS = _env_int("MONITORING_PERMUTATIONS", 500)
    MONITORING_REFERENCE_SIZE = _env_int("MONITORING_REFERENCE_SIZE", 500)
    MONITORING_CACHE_SECONDS = _env_float("MONITORING_CACHE_SECONDS", 60.0)

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
        check_feedback_cap(cfg)
        for key in ("SECRET_KEY", "JWT_SECRET_KEY"):
            value = cfg.get(key)
            if value is not None and value.strip().lower() in PLACEHOLDER_SECRETS:
                raise ConfigError(
                    f"{key} is a published placeholder; unset it (development makes a random one "
                    "under instance/) or set a random value of 32+ characters"
                )
        _check_ood(cfg)


def _check_ood(cfg: dict) -> None:
    if cfg.get("OOD_ACTION", "flag") not in ("flag", "refuse"):
        raise ConfigError(f"OOD_ACTION must be 'flag' or 'refuse', got {cfg.get('OOD_ACTION')!r}")
    if cfg.get("OOD_THRESHOLD") is not None and not float(cfg["OOD_THRESHOLD"]) > 0:
        raise ConfigError("OOD_THRESHOLD must be a positive number (empty: the calibrated default)")


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

        check_feedback_cap(cfg)
        _check_ood(cfg)
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
