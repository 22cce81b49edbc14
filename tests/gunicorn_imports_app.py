"""The WSGI app tests/test_gunicorn_imports.py serves from a real gunicorn: it imports what a serving
worker imports, loads a registered model as the model store does, and reports what it got. No
pytest here: the workers refuse it."""

from __future__ import annotations

import importlib
import json
import sys

NAMES = ("pandas", "pyarrow", "pytest", "aiohttp", "rich", "pygments")


def _failing_app_modules() -> list[str]:
    """Every module of the app package that does not import here (scripts' __main__ aside)."""
    import pkgutil

    import app

    failing = []
    for found in pkgutil.walk_packages(app.__path__, "app."):
        if found.name.endswith(".__main__"):
            continue
        try:
            importlib.import_module(found.name)
        except Exception as exc:  # noqa: BLE001 - reported, with its cause
            failing.append(f"{found.name}: {exc!r}"[:300])
    return failing


def report(environ: dict, start_response) -> list[bytes]:  # noqa: ANN001 - WSGI signature
    import os

    import mlflow  # noqa: F401 - imported by every worker
    import numpy as np
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    from app.ml import registry

    importable = {}
    for name in NAMES:
        try:
            importlib.import_module(name)
        except ImportError:
            importable[name] = False
        else:
            importable[name] = True
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    clf = LogisticRegression().fit(X, [0, 0, 1, 1])
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    model = registry.load_version(client, registry.get_alias_version(client, "v2").version)
    body = {
        "loaded": sorted(name for name in NAMES if name in sys.modules),
        "importable": importable,
        "predicted": clf.predict(np.array([[0.0], [3.0]])).tolist(),
        "model_answers": model.predict_proba(np.zeros((1, 784), dtype=np.float32)).shape == (1, 10),
        "failing_app_modules": _failing_app_modules(),
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
