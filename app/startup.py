"""The start-up step: all I/O an app does once it is built, in one place, run by create_app last.

In order: MLflow's HTTP client limits (environment), the check of AB_ARMS against the model
registry, and the recovery of retrain jobs a dead process left behind (database).
"""

from __future__ import annotations

import os

from flask import Flask
from sqlalchemy.exc import OperationalError

from app.ab import check_arm_aliases
from app.config import ConfigError
from app.retrain.jobs import recover_interrupted

# MLflow's HTTP defaults (7 retries, exponential backoff, 120 s timeout) make the request that
# triggers a model refresh hang for minutes while the tracking server is down. Fail within
# seconds instead and keep serving the loaded models; the environment may override.
MLFLOW_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


def run_startup(app: Flask) -> None:
    """Once per app, after every feature registered (create_app's last step)."""
    limit_mlflow_http(app)
    check_arm_aliases(app)
    recover_retrain_jobs(app)


def limit_mlflow_http(app: Flask) -> None:
    """Set MLFLOW_HTTP_* defaults in the environment for an http(s) tracking server."""
    if app.config["MLFLOW_TRACKING_URI"].startswith(("http://", "https://")):
        for key, value in MLFLOW_HTTP_DEFAULTS.items():
            os.environ.setdefault(key, value)


def recover_retrain_jobs(app: Flask) -> None:
    """Fail the jobs a dead process left queued or running; an unreachable database refuses start-up."""
    try:
        recover_interrupted(app)
    except OperationalError as exc:
        raise ConfigError(
            f"database unreachable at start-up: {str(exc.orig).splitlines()[0][:200]}"
        ) from None
