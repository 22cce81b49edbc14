"""Feedback-driven retraining jobs: API, background runner, start-up recovery."""

from __future__ import annotations

from flask import Flask
from sqlalchemy.exc import OperationalError

from app.config import ConfigError


def init_retrain(app: Flask) -> None:
    from app.retrain.jobs import recover_interrupted

    executor = app.config["RETRAIN_EXECUTOR"]
    if executor not in ("process", "rq", "thread"):
        raise ConfigError(f"RETRAIN_EXECUTOR must be process, rq or thread, got {executor!r}")
    if executor == "rq" and not app.config.get("REDIS_URL"):
        raise ConfigError("RETRAIN_EXECUTOR=rq needs REDIS_URL (the queue lives in Redis)")
    try:
        recover_interrupted(app)
    except OperationalError as exc:
        raise ConfigError(
            f"database unreachable at start-up: {str(exc.orig).splitlines()[0][:200]}"
        ) from None
