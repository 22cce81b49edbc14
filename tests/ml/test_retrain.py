"""Retraining core end to end against a private copy of a bootstrapped store."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mlflow import MlflowClient

from app.ml import data, registry, retrain, tracking
from app.ml.store import ModelStore
from tests.factories import misclassified_holdout

LIMIT = 500  # same reduced training set as the template bootstrap


def _run(store_uri: str, **kw: object) -> retrain.RetrainResult:
    kw.setdefault("limit", LIMIT)
    kw.setdefault("job_id", "job-1")
    kw.setdefault("requested_by", "alice")
    progress = kw.pop("progress", None)
    req = retrain.RetrainRequest(tracking_uri=store_uri, **kw)
    return retrain.retrain(req) if progress is None else retrain.retrain(req, progress=progress)


def _unseen_misclassified(store_uri: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Training-split images outside the reduced set that v2 gets wrong:
    realistic 'user corrected the model' feedback."""
    client = registry.client_for(store_uri)
    model = registry.load_version(client, registry.get_alias_version(client, "v2").version)
    full, small = data.load_split(), data.load_split(limit=LIMIT)
    seen = {data.data_hash(x, np.zeros(1)) for x in small.X_train}
    unseen = np.array([i for i, x in enumerate(full.X_train) if data.data_hash(x, np.zeros(1)) not in seen])
    wrong = unseen[model.predict(full.X_train[unseen]) != full.y_train[unseen]][:n]
    assert len(wrong) == n
    return full.X_train[wrong], full.y_train[wrong]


def test_retrain_logs_run_registers_version_and_reports(store_uri):
    X, y = _unseen_misclassified(store_uri, 10)
    events: list[tuple[int, str]] = []
    res = _run(
        store_uri,
        hyperparams={"epochs": 300},
        extra_X=X,
        extra_y=y,
        feedback_ids=list(range(100, 110)),
        feedback_times=list(range(10)),
        promote_to=None,
        progress=lambda pct, msg: events.append((pct, msg)),
    )
    client: MlflowClient = registry.client_for(store_uri)
    assert [p for p, _ in events] == sorted(p for p, _ in events) and events[-1][0] == 100
    assert res.family == "hog_logreg" and res.base_version == res.baseline_version
    assert res.n_feedback_used == 8 and res.feedback_accuracy is not None  # newest 2 held out
    assert res.promoted is False and "no target alias" in res.decision
    assert res.baseline_accuracy is not None and 0.5 < res.holdout_accuracy <= 1

    run = client.get_run(res.run_id)
    assert client.get_experiment(res.experiment_id).name == tracking.RETRAIN_EXPERIMENT
    p, m, t = run.data.params, run.data.metrics, run.data.tags
    assert p["base_version"] == res.base_version and p["hp_epochs"] == "300" and p["seed"] == "0"
    assert p["n_mnist"] == "500" and p["n_feedback_train"] == "8" and p["n_feedback_eval"] == "2"
    n_synthetic = len(data.load_synthetic(limit=LIMIT)[1])
    assert p["n_train"] == str(508 + n_synthetic) and p["n_synthetic"] == str(n_synthetic)
    assert len(p["data_hash"]) == 64
    assert m["realworld_accuracy"] == pytest.approx(res.realworld_accuracy)
    assert "realworld_jpeg_accuracy" in m and "baseline_realworld_accuracy" in m
    assert m["holdout_accuracy"] == pytest.approx(res.holdout_accuracy)
    assert {"feedback_accuracy", "train_seconds", "baseline_accuracy"} <= set(m)
    assert {f"holdout_recall_{c}" for c in range(10)} <= set(m)
    assert t["job_id"] == "job-1" and t["requested_by"] == "alice" and t["promoted"] == "false"
    files = {a.path for a in client.list_artifacts(res.run_id)}
    assert {"confusion_matrix.png", "classification_report.json", "feedback_ids.json"} <= files
    ids = json.loads(open(client.download_artifacts(res.run_id, "feedback_ids.json")).read())
    assert ids == {"train": list(range(100, 108)), "eval": [108, 109]}

    mv = client.get_model_version(registry.MODEL_NAME, res.registered_version)
    assert mv.run_id == res.run_id
    assert mv.tags["job_id"] == "job-1" and mv.tags["requested_by"] == "alice"
    assert mv.tags["base_version"] == res.base_version and mv.tags["promoted"] == "false"
    assert registry.registry_aliases(client)["v2"] == res.base_version  # untouched


def test_feedback_fixes_the_corrected_images(store_uri):
    X, y = _unseen_misclassified(store_uri, 12)
    res = _run(store_uri, extra_X=X, extra_y=y, feedback_ids=list(range(12)), feedback_weight=10.0)
    client = registry.client_for(store_uri)
    new = registry.load_version(client, res.registered_version)
    used = slice(0, res.n_feedback_used)  # no times given: the last ones are held out
    assert (new.predict(X[used]) == y[used]).mean() >= 0.9  # base got all of them wrong
    assert res.holdout_accuracy >= res.baseline_accuracy - 0.02  # without wrecking the holdout


def _better(store_uri: str, alias: str = "v2", n: int = 10) -> dict:
    """Feedback that makes a retrain of `alias` strictly better than it on the holdout."""
    client = registry.client_for(store_uri)
    X, y = misclassified_holdout(
        registry.load_version(client, registry.get_alias_version(client, alias).version), n
    )
    return {"extra_X": X, "extra_y": y, "feedback_ids": list(range(n)), "feedback_weight": 10.0}


def test_identical_retrain_ties_and_is_not_promoted(store_uri):
    # Issue 14: with margin 0 and ">=", every retrain promoted an identical model. Same data,
    # same seed, no feedback: the same figures everywhere, a tie, and ties do not promote.
    client = registry.client_for(store_uri)
    before = registry.registry_aliases(client)
    res = _run(store_uri, promote_to="v2", margin=0.0)
    assert not res.promoted and res.holdout_accuracy == res.baseline_accuracy
    assert res.decision.startswith("rejected for v2: a tie"), res.decision
    assert registry.registry_aliases(client) == before


def test_promotion_moves_alias_and_store_swaps(store_uri):
    client = registry.client_for(store_uri)
    store = ModelStore(store_uri)
    before = store.get("champion").version
    res = _run(store_uri, promote_to="champion", margin=-1.0, **_better(store_uri, "champion"))
    assert res.promoted and "promoted to champion" in res.decision
    assert res.holdout_accuracy > res.baseline_accuracy and "feedback 2 held-out images" in res.decision
    assert registry.registry_aliases(client)["champion"] == res.registered_version != before
    assert store.refresh()[0]["new"] == res.registered_version
    run = client.get_run(res.run_id)
    assert run.data.tags["promotion_decision"] == res.decision
    assert run.data.metrics["feedback_broken"] == 0  # the serving version got them all wrong


def test_champion_follows_a_promotion_of_its_version(store_uri):
    client = registry.client_for(store_uri)
    aliases = registry.registry_aliases(client)
    assert aliases["champion"] == aliases["v2"]
    res = _run(store_uri, promote_to="v2", margin=-1.0, **_better(store_uri))
    after = registry.registry_aliases(client)
    assert res.promoted and after["v2"] == after["champion"] == res.registered_version
    # v1 is not the champion: promoting it leaves the champion where it is.
    res_v1 = _run(store_uri, base_alias="v1", promote_to="v1", margin=-1.0, **_better(store_uri, "v1"))
    final = registry.registry_aliases(client)
    assert res_v1.promoted and final["v1"] == res_v1.registered_version
    assert final["champion"] == res.registered_version


def test_shuffled_labels_are_rejected_by_the_gate(store_uri):
    client = registry.client_for(store_uri)
    before = registry.registry_aliases(client)
    res = _run(store_uri, shuffle_labels=True, promote_to="v2")
    assert not res.promoted and res.holdout_accuracy < 0.3
    assert res.decision.startswith("rejected for v2") and "real-world" in res.decision
    # MLflow's version number, said as one: "v2" is an alias here, "version 2" a registry version.
    assert f"< current version {before['v2']}'s " in res.decision, res.decision
    assert registry.registry_aliases(client) == before
    mv = client.get_model_version(registry.MODEL_NAME, res.registered_version)
    assert mv.tags["promoted"] == "false" and mv.tags["promotion_decision"] == res.decision


def test_margin_is_required_on_top_of_current_accuracy(store_uri):
    res = _run(store_uri, promote_to="v2", margin=0.5)
    assert not res.promoted


def test_tag_failure_after_the_alias_moved_keeps_the_promotion(store_uri, monkeypatch):
    # Tags are written after the alias moved (a fact by then): failing to write them must not
    # turn the done promotion into a failure.
    client = registry.client_for(store_uri)
    n_versions = len(client.search_model_versions(f"name='{registry.MODEL_NAME}'"))

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("registry hiccup")

    better = _better(store_uri)
    monkeypatch.setattr(MlflowClient, "set_model_version_tag", boom)
    res = _run(store_uri, promote_to="v2", margin=-1.0, **better)
    monkeypatch.undo()
    assert res.promoted
    assert len(client.search_model_versions(f"name='{registry.MODEL_NAME}'")) == n_versions + 1
    assert registry.registry_aliases(client)["v2"] == res.registered_version


def test_invalid_requests_fail_before_any_run(store_uri):
    client = registry.client_for(store_uri)
    with pytest.raises(ValueError, match="learning_rate"):
        _run(store_uri, hyperparams={"learning_rate": 0.1})  # hog_logreg: lbfgs has no step size
    with pytest.raises(LookupError):
        _run(store_uri, base_alias="v9")
    with pytest.raises(ValueError):
        _run(store_uri, extra_X=np.zeros((2, 784)), extra_y=[1], feedback_ids=[1, 2])
    assert client.get_experiment_by_name(tracking.RETRAIN_EXPERIMENT) is None


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 5 epochs on purpose
def test_family_override_and_learning_rate(store_uri):
    res = _run(store_uri, family="hog_mlp", hyperparams={"epochs": 5, "learning_rate": 0.01})
    run = registry.client_for(store_uri).get_run(res.run_id)
    assert run.data.params["family"] == "hog_mlp" and run.data.params["hp_learning_rate"] == "0.01"


def test_split_feedback_holds_out_the_newest():
    tr, ev = retrain.split_feedback(10, [5, 3, 9, 1, 0, 8, 2, 7, 6, 4])
    assert sorted(ev.tolist()) == [2, 5]  # times 9 and 8
    assert len(tr) == 8
    tr, ev = retrain.split_feedback(3, None)
    assert len(tr) == 3 and len(ev) == 0


def test_killed_while_moving_alias_leaves_no_promoted_tag(store_uri):
    """A retrain that dies just before the alias moves must not tag its version promoted."""
    client = registry.client_for(store_uri)
    before = registry.registry_aliases(client)

    class Killed(Exception):
        pass

    def progress(pct: int, step: str) -> None:
        if step.startswith("moving alias"):
            raise Killed(step)

    with pytest.raises(Killed):
        _run(store_uri, promote_to="v2", margin=-1.0, progress=progress, **_better(store_uri))
    assert registry.registry_aliases(client) == before
    newest = max(client.search_model_versions(f"name='{registry.MODEL_NAME}'"), key=lambda v: int(v.version))
    assert str(newest.version) not in before.values()
    assert "promoted" not in newest.tags and "promotion_decision" not in newest.tags
