"""The served models' fast predict_proba (app/ml/fastpath.py): the same probabilities as
scikit-learn's pipeline, or scikit-learn's own path when the model is not one it can fold."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from app.ml import families
from app.ml.fastpath import compile_proba
from app.ml.runtime import DigitModel


def test_bootstrap_models_get_the_fast_path_with_identical_answers(trained, split):
    X = split.X_holdout
    for alias in ("v1", "v2"):
        model = trained[alias]["model"]
        fast = compile_proba(model)
        assert fast is not None, alias
        expected = model.predict_proba(X)
        got = fast(X)
        assert np.abs(got - expected).max() <= 1e-5
        assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()
        dm = DigitModel(model).load()
        assert np.abs(dm.predict_proba(X[:7]) - expected[:7]).max() <= 1e-5


def test_models_it_cannot_fold_keep_scikit_learns_path(split):
    X, y = split.X_train[:400], split.y_train[:400]
    mlp = families.build_model("hog_mlp", epochs=3).fit(X, y)
    assert compile_proba(mlp) is None
    binary = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=50))])
    assert compile_proba(binary.fit(X, y == 3)) is None
    # A step whose transform differs between calls (here: randomness) cannot reproduce the
    # pipeline's answers, so the load-time check refuses it.
    rng = np.random.default_rng(1)
    noisy = Pipeline([
        ("jitter", FunctionTransformer(lambda a: a + rng.normal(0, 0.5, a.shape))),
        ("clf", LogisticRegression(max_iter=50)),
    ]).fit(X, y)  # fmt: skip
    assert compile_proba(noisy) is None
    dm = DigitModel(noisy).load()
    assert dm.predict_proba(X[:3]).shape == (3, 10)
