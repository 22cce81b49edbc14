"""app/ml/artifact.py loads registered models without mlflow.sklearn (and so without pandas): the
same estimator MLflow would load, trusting only the types this project names."""

from __future__ import annotations

import numpy as np
import pytest
from mlflow import MlflowClient
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from app.ml import registry
from app.ml.artifact import load_sklearn_model
from app.ml.families import SKOPS_TRUSTED_TYPES


class Marker(BaseEstimator, TransformerMixin):
    """A transformer of a type the project does not name as trusted."""

    def fit(self, X, y=None):  # noqa: ANN001, ANN201 - scikit-learn's signature
        return self

    def transform(self, X):  # noqa: ANN001, ANN201
        return X


def _fitted(*steps):  # noqa: ANN002, ANN202
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    return make_pipeline(*steps, LogisticRegression()).fit(X, [0, 0, 1, 1])


def test_a_registered_version_loads_as_mlflow_would(store_uri):
    import mlflow.sklearn

    client = MlflowClient(store_uri)
    version = registry.get_alias_version(client, "v2").version
    uri = client.get_model_version_download_uri(registry.MODEL_NAME, str(version))
    ours, theirs = load_sklearn_model(uri), mlflow.sklearn.load_model(uri)
    X = np.random.default_rng(0).random((5, 784), dtype=np.float32)
    assert type(ours) is type(theirs)
    np.testing.assert_array_equal(ours.predict_proba(X), theirs.predict_proba(X))


def test_types_the_artifact_adds_to_its_own_trusted_list_are_refused(tmp_path):
    import mlflow.sklearn
    from skops.io.exceptions import UntrustedTypesFoundException

    marker = f"{Marker.__module__}.Marker"
    path = tmp_path / "model"
    mlflow.sklearn.save_model(
        _fitted(Marker()),
        path,
        serialization_format="skops",
        skops_trusted_types=[*SKOPS_TRUSTED_TYPES, marker],
    )
    assert type(mlflow.sklearn.load_model(str(path)).steps[0][1]) is Marker  # MLflow trusts the file's list
    with pytest.raises(UntrustedTypesFoundException):
        load_sklearn_model(str(path))


def test_a_model_in_another_format_goes_through_mlflow(tmp_path):
    import mlflow.sklearn

    path = tmp_path / "model"
    mlflow.sklearn.save_model(_fitted(), path, serialization_format="cloudpickle")
    model = load_sklearn_model(str(path))
    assert model.predict(np.array([[0.0], [3.0]])).tolist() == [0, 1]


def test_a_process_without_pandas_reads_the_bundled_digits_the_same():
    """A serving worker that must fit the OOD detector itself (no fitted file yet) reads the
    bundled MNIST CSV with numpy: the same arrays."""
    import hashlib
    import subprocess
    import sys

    from app.ml import data

    script = (
        "import sys, hashlib\n"
        "class Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] == 'pandas': raise ModuleNotFoundError(name, name=name)\n"
        "sys.meta_path.insert(0, Refuse())\n"
        "from app.ml import data\n"
        "X, y = data._read_mnist()\n"
        "assert 'pandas' not in sys.modules\n"
        "print(hashlib.sha256(X.tobytes() + y.tobytes()).hexdigest())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True
    )
    X, y = data._read_mnist()
    assert out.stdout.strip() == hashlib.sha256(X.tobytes() + y.tobytes()).hexdigest()
