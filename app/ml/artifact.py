"""Load a registered scikit-learn model without importing mlflow.sklearn.

mlflow.sklearn imports pandas (through mlflow.types): ~66 MB in every serving worker, which
serving never uses, so the workers refuse it (SERVING_REFUSED_IMPORTS in gunicorn.conf.py). Our
models are logged in the skops format (app/ml/tracking.py); this reads the sklearn flavour of the
model's MLmodel file and loads the skops file itself. It trusts the types this project names
(families.SKOPS_TRUSTED_TYPES), not the list written in the artifact, which a crafted model could
extend. Any other model (pickled, or with code to put on the path) goes through
mlflow.sklearn.load_model as before, which a worker without pandas cannot do: it reports the model
as unavailable, and emptying SERVING_REFUSED_IMPORTS serves it.
"""

from __future__ import annotations

import os
from typing import Any

import yaml
from mlflow.artifacts import download_artifacts

from app.ml.families import SKOPS_TRUSTED_TYPES


def load_sklearn_model(uri: str) -> Any:
    """The fitted estimator a `sklearn`-flavoured MLflow model at `uri` holds."""
    local = download_artifacts(artifact_uri=uri)
    # The MLmodel file itself: mlflow.models.Model, which would parse it, imports pandas too.
    with open(os.path.join(local, "MLmodel"), encoding="utf-8") as f:
        flavour = (yaml.safe_load(f).get("flavors") or {}).get("sklearn") or {}
    if flavour.get("serialization_format") != "skops" or flavour.get("code"):
        from mlflow.sklearn import load_model

        return load_model(uri)
    import skops.io

    return skops.io.load(os.path.join(local, flavour["pickled_model"]), trusted=list(SKOPS_TRUSTED_TYPES))
