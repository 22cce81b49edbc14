"""The WSGI app tests/test_gunicorn_imports.py serves from a real gunicorn: it imports what a serving
worker imports, loads a registered model as the model store does, and reports what it got. No
pytest here: the workers refuse it."""

from __future__ import annotations

import importlib
import json
import sys

NAMES = ("pandas", "pyarrow", "pytest", "aiohttp")


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
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
