"""Model families: accuracy floors, interface, hyperparameters, weighting."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from app.ml import data, families


def test_split_is_fixed_and_stratified(split):
    assert split.X_train.shape == (4000, 784) and split.X_holdout.shape == (1000, 784)
    assert split.X_train.dtype == np.float32 and 0 <= split.X_train.min() and split.X_train.max() <= 1
    assert np.bincount(split.y_holdout).tolist() == [100] * 10
    assert data.data_hash(split.X_holdout, split.y_holdout) == data.data_hash(*data.load_holdout())


def test_limit_subsets_training_only(split):
    small = data.load_split(limit=300)
    assert len(small.y_train) == 300 and np.bincount(small.y_train).tolist() == [30] * 10
    assert small.X_holdout is split.X_holdout
    assert data.data_hash(small.X_train, small.y_train) != data.data_hash(split.X_train, split.y_train)


def test_v1_holdout_floor(trained, split):
    acc = families.evaluate(trained["v1"]["model"], split.X_holdout, split.y_holdout)["accuracy"]
    assert acc >= 0.89


def test_v2_holdout_floor(trained, split):
    result = families.evaluate(trained["v2"]["model"], split.X_holdout, split.y_holdout)
    assert result["accuracy"] >= 0.975
    assert trained["v2"]["seconds"] < 120


def test_evaluate_and_confusion_png(trained, split):
    ev = families.evaluate(trained["v1"]["model"], split.X_holdout, split.y_holdout)
    cm = np.array(ev["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 1000
    assert np.trace(cm) / 1000 == pytest.approx(ev["accuracy"])
    assert len(ev["precision"]) == len(ev["recall"]) == 10
    assert ev["recall"][3] == pytest.approx(cm[3, 3] / cm[3].sum())
    png = families.confusion_matrix_png(cm)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


def test_digit_model_shapes(v2_model, split):
    batch = split.X_holdout[:8]
    p_flat = v2_model.predict_proba(batch)
    p_img = v2_model.predict_proba(batch.reshape(-1, 28, 28))
    assert p_flat.shape == (8, 10)
    np.testing.assert_allclose(p_flat.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(p_flat, p_img, atol=1e-6)
    np.testing.assert_allclose(v2_model.predict_proba(batch[0].reshape(28, 28)), p_flat[:1], atol=1e-6)
    assert v2_model.family == "hog_logreg"
    with pytest.raises(ValueError):
        v2_model.predict_proba(np.zeros((2, 27, 27)))
    with pytest.raises(ValueError):
        v2_model.predict_proba(np.full((1, 784), np.nan))


def test_hyperparameter_validation():
    assert families.resolve_hyperparams("logreg", {"epochs": 50}) == {"epochs": 50, "C": 0.1}
    assert families.resolve_hyperparams("hog_mlp", {"learning_rate": 0.01})["learning_rate"] == 0.01
    assert families.resolve_hyperparams("hog_logreg", {"epochs": None})["epochs"] == 500
    for family, hp in [
        ("logreg", {"learning_rate": 0.1}),  # lbfgs has no step size
        ("hog_logreg", {"depth": 3}),
        ("hog_mlp", {"epochs": 0}),
        ("hog_mlp", {"epochs": 2.5}),
        ("hog_mlp", {"learning_rate": "fast"}),
    ]:
        with pytest.raises(ValueError):
            families.resolve_hyperparams(family, hp)
    with pytest.raises(ValueError):
        families.build_model("resnet")


def test_epochs_reach_the_estimator():
    model = families.build_model("hog_mlp", epochs=7, learning_rate=0.005)
    clf = model.steps[-1][1]
    assert clf.max_iter == 7 and clf.learning_rate_init == 0.005
    assert families.build_model("logreg", epochs=33).steps[-1][1].max_iter == 33


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mlp_family_trains(split):
    small = data.load_split(limit=500)
    model = families.train("hog_mlp", small.X_train, small.y_train, epochs=15)
    assert families.evaluate(model, small.X_holdout, small.y_holdout)["accuracy"] > 0.85


def test_sample_weight_pulls_the_model_towards_weighted_rows(split):
    small = data.load_split(limit=200)
    # A relabelled copy of 5 images: heavy weight must make the model follow it.
    X = np.concatenate([small.X_train, small.X_train[:5]])
    y = np.concatenate([small.y_train, (small.y_train[:5] + 1) % 10])
    w = np.concatenate([np.ones(200), np.full(5, 50.0)])
    weighted = families.train("hog_logreg", X, y, sample_weight=w)
    plain = families.train("hog_logreg", X, y)
    target = (small.y_train[:5] + 1) % 10
    assert (weighted.predict(small.X_train[:5]) == target).sum() > (
        plain.predict(small.X_train[:5]) == target
    ).sum()


def test_sample_weight_without_estimator_support_repeats_rows(monkeypatch):
    fam = families.Family(
        "knn", "test only", {}, lambda hp, seed: Pipeline([("clf", KNeighborsClassifier(3))])
    )
    monkeypatch.setitem(families.FAMILIES, "knn", fam)
    X = np.array([[0.0] * 784, [1.0] * 784, [0.9] * 784], dtype=np.float32)
    y = np.array([0, 1, 2])
    model = families.train("knn", X, y, sample_weight=np.array([1.0, 1.0, 3.0]))
    assert model.steps[-1][1].n_samples_fit_ == 5  # the weight-3 row was repeated
    with pytest.raises(ValueError):
        families.train("knn", X, y, sample_weight=np.array([1.0, -1.0, 1.0]))
