"""Predictions: /api/v1, /api/v2 (single and batch), and the model store they share."""

from __future__ import annotations

from flask import Flask


def init_predict(app: Flask) -> None:
    from app.health import add_readiness_check
    from app.ml.registry import ModelStore
    from app.predict.cli import register_cli

    store = ModelStore(app.config["MLFLOW_TRACKING_URI"], model_name=app.config["MODEL_NAME"])
    app.extensions["digitserve.models"] = store
    add_readiness_check(app, "model_store", store.ping)
    register_cli(app)
