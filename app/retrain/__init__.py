"""Feedback-driven retraining jobs: API, background runner, start-up recovery (app/startup.py)."""

from __future__ import annotations

from flask import Flask

from app.config import ConfigError
from app.extensions import api
from app.retrain.views import blp


def init_retrain(app: Flask) -> None:
    executor = app.config["RETRAIN_EXECUTOR"]
    if executor not in ("process", "rq", "thread"):
        raise ConfigError(f"RETRAIN_EXECUTOR must be process, rq or thread, got {executor!r}")
    if executor == "rq" and not app.config.get("REDIS_URL"):
        raise ConfigError("RETRAIN_EXECUTOR=rq needs REDIS_URL (the queue lives in Redis)")
    api.register_blueprint(blp)
