"""Predictions: /api/v1, /api/v2 (single and batch), and the model store they share."""

from __future__ import annotations

import os

from flask import Flask


def init_predict(app: Flask) -> None:
    from app.health import add_readiness_check
    from app.ml.store import ModelStore
    from app.predict.cli import register_cli

    uri = app.config["MLFLOW_TRACKING_URI"]
    if uri.startswith(("http://", "https://")):
        # MLflow's HTTP defaults (7 retries, exponential backoff, 120 s timeout) make the request
        # that triggers a model refresh hang for minutes while the tracking server is down. Fail
        # within seconds instead and keep serving the loaded models; the environment may override.
        for key, value in (
            ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1"),
            ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
            ("MLFLOW_HTTP_REQUEST_TIMEOUT", "10"),
        ):
            os.environ.setdefault(key, value)
    store = ModelStore(uri, model_name=app.config["MODEL_NAME"])
    app.extensions["digitserve.models"] = store
    add_readiness_check(app, "model_store", store.ping)
    register_cli(app)
