"""gunicorn.conf.py keeps pandas, pyarrow, pytest, aiohttp, rich and pygments out of serving
workers (issue 16, memory): ~145 MB of resident memory per worker that serving never uses. A real
gunicorn with our config serves tests/gunicorn_imports_app.py, which imports what a serving worker
imports (every module of the app package), loads a registered model as the model store does, and
reports what it got.
"""

from __future__ import annotations

from pathlib import Path

import requests

from tests.gunicorn_imports_app import NAMES
from tests.test_gunicorn_control_socket import _gunicorn


def _serve(tmp_path: Path, mlflow_uri: str, **env: str) -> dict:
    app = "tests.gunicorn_imports_app:report"
    with _gunicorn(tmp_path, "gunicorn-imports", app=app, MLFLOW_TRACKING_URI=mlflow_uri, **env) as server:
        return requests.get(server.url + "/", timeout=60).json()


def test_serving_workers_refuse_unused_packages_and_still_predict(tmp_path: Path, store_uri: str) -> None:
    # store_uri: a private registry, whatever other tests did to the session's aliases.
    got = _serve(tmp_path, store_uri)
    assert got == {
        "loaded": [],
        "importable": dict.fromkeys(NAMES, False),
        "predicted": [0, 1],
        "model_answers": True,
        "failing_app_modules": [],
    }


def test_the_refused_list_is_configurable(tmp_path: Path, store_uri: str) -> None:
    got = _serve(tmp_path, store_uri, SERVING_REFUSED_IMPORTS="")
    assert got["importable"] == dict.fromkeys(NAMES, True)
    assert "pandas" in got["loaded"] and got["model_answers"] is True and got["failing_app_modules"] == []
