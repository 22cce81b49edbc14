"""Drift and estimated accuracy per alias (issue 17, item 2): GET /admin/monitoring, Prometheus
gauges, `drift.alarm` notifications. Other features call `check_alarms(app)` (periodically) and
`monitoring_signals(alias)`."""

from __future__ import annotations

from flask import Flask

from app.extensions import api
from app.monitoring.alarms import check_alarms, monitoring_signals
from app.monitoring.views import blp

__all__ = ["check_alarms", "init_monitoring", "monitoring_signals"]


def init_monitoring(app: Flask) -> None:
    api.register_blueprint(blp)
