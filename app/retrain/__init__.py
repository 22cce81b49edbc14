"""Feedback-driven retraining jobs: API, background runner, start-up recovery."""

from __future__ import annotations

from flask import Flask
from sqlalchemy.exc import OperationalError

from app.config import ConfigError


def init_retrain(app: Flask) -> None:
    from app.retrain.jobs import recover_interrupted

    try:
        recover_interrupted(app)
    except OperationalError as exc:
        raise ConfigError(
            f"database unreachable at start-up: {str(exc.orig).splitlines()[0][:200]}"
        ) from None
