"""Predictions: /api/v1, /api/v2 (single and batch), and the model store they share."""

from __future__ import annotations

from flask import Flask

from app.extensions import api
from app.health import add_readiness_check
from app.ml.store import ModelStore
from app.predict.cli import register_cli
from app.predict.views import blp
from app.state import set_model_store


def init_predict(app: Flask) -> None:
    """Make the process's model store (no I/O: it loads on first use) and the predict routes."""
    store = ModelStore(app.config["MLFLOW_TRACKING_URI"], model_name=app.config["MODEL_NAME"])
    set_model_store(app, store)
    add_readiness_check(app, "model_store", store.ping)
    register_cli(app)
    api.register_blueprint(blp)
