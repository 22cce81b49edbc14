"""Retrain policies: GET/PUT /admin/retrain/policy, and the scheduler (one acting per deployment,
by a database lease) that starts a retrain when the policy says one is due."""

from __future__ import annotations

from flask import Flask

from app.config import ConfigError
from app.extensions import api
from app.policy.scheduler import PERIODIC_TASKS, ensure_scheduler, stop_scheduler
from app.policy.views import blp

__all__ = ["PERIODIC_TASKS", "ensure_scheduler", "init_policy", "stop_scheduler"]


def init_policy(app: Flask) -> None:
    tick, lease = app.config["SCHEDULER_TICK_SECONDS"], app.config["SCHEDULER_LEASE_SECONDS"]
    if tick <= 0 or lease <= tick:
        raise ConfigError(
            f"SCHEDULER_TICK_SECONDS must be > 0 and SCHEDULER_LEASE_SECONDS above it (got {tick}, {lease}): "
            "the holder renews its lease every tick"
        )
    api.register_blueprint(blp)
    if app.config["SCHEDULER_ENABLED"]:
        # Started by the first request, like the notification deliverer: also in a worker forked
        # after create_app (gunicorn --preload). The retrain worker process starts it at once.
        @app.before_request
        def _start_scheduler() -> None:
            ensure_scheduler(app)
