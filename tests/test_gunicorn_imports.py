"""gunicorn.conf.py keeps pyarrow, pytest and aiohttp out of serving workers (issue 16, memory).

pandas, which scikit-learn and MLflow import, loads pyarrow when it is installed: ~60 MB of
resident memory per worker that serving never uses. A real gunicorn with our config serves the WSGI
app below, which imports what a serving worker imports and reports what it got.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import requests

from tests.test_gunicorn_control_socket import _gunicorn


def report(environ: dict, start_response) -> list[bytes]:  # noqa: ANN001 - WSGI signature
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    importable = {}
    for name in ("pyarrow", "pytest", "aiohttp"):
        try:
            importlib.import_module(name)
        except ImportError:
            importable[name] = False
        else:
            importable[name] = True
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    clf = LogisticRegression().fit(X, [0, 0, 1, 1])
    body = {
        "pyarrow_loaded": "pyarrow" in sys.modules,
        "importable": importable,
        "pandas_works": int(pd.DataFrame({"a": [1, 2]})["a"].sum()) == 3,
        "predicted": clf.predict(np.array([[0.0], [3.0]])).tolist(),
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


def _serve(tmp_path: Path, **env: str) -> dict:
    with _gunicorn(tmp_path, "gunicorn-imports", app="tests.test_gunicorn_imports:report", **env) as server:
        return requests.get(server.url + "/", timeout=30).json()


def test_serving_workers_refuse_unused_packages_and_still_predict(tmp_path: Path) -> None:
    got = _serve(tmp_path)
    assert got == {
        "pyarrow_loaded": False,
        "importable": {"pyarrow": False, "pytest": False, "aiohttp": False},
        "pandas_works": True,
        "predicted": [0, 1],
    }


def test_the_refused_list_is_configurable(tmp_path: Path) -> None:
    got = _serve(tmp_path, SERVING_REFUSED_IMPORTS="")
    assert got["importable"] == {"pyarrow": True, "pytest": True, "aiohttp": True}
    assert got["pandas_works"] is True
