"""Registry bootstrap and the serving ModelStore (real SQLite MLflow stores)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from app.ml import data, registry, synth, tracking
from app.ml.errors import ModelNotFound, ModelUnavailable
from app.ml.store import ModelStore


def _versions(client) -> list[str]:
    return sorted(mv.version for mv in client.search_model_versions(f"name='{registry.MODEL_NAME}'"))


def test_default_tracking_uri(tmp_path):
    uri = registry.default_tracking_uri(tmp_path)
    assert uri == f"sqlite:///{tmp_path.resolve()}/mlruns/mlflow.db"
    assert registry.artifact_root(uri) == str(tmp_path.resolve() / "mlruns" / "artifacts")


def test_alias_names_map_around_mlflow_reserved_names():
    assert registry.registry_alias("v2") == "model-v2"
    assert registry.registry_alias("champion") == "champion"
    assert registry.public_alias("model-v2") == "v2" and registry.public_alias("model-x") == "model-x"
    assert registry.model_uri("v1") == "models:/digit-classifier@model-v1"
    for bad in ["latest", "", "a b", "x/y"]:
        with pytest.raises(ValueError):
            registry.registry_alias(bad)


def test_bootstrap_registers_v1_v2_champion(template_store: Path):
    uri = registry.default_tracking_uri(template_store)
    client = registry.client_for(uri)
    aliases = registry.registry_aliases(client)
    assert set(aliases) == {"v1", "v2", "champion"}
    assert aliases["champion"] == aliases["v2"] != aliases["v1"]
    exp = client.get_experiment_by_name(tracking.BOOTSTRAP_EXPERIMENT)
    assert exp.artifact_location.startswith((template_store / "mlruns" / "artifacts").resolve().as_uri())
    for alias, family in tracking.BOOTSTRAP_PLAN:
        mv = registry.get_alias_version(client, alias)
        assert mv.tags["family"] == family
        run = client.get_run(mv.run_id)
        assert run.data.params["family"] == family
        n_synthetic = len(data.load_synthetic(limit=500)[1])
        assert run.data.params["n_train"] == str(500 + n_synthetic)
        assert run.data.params["n_mnist"] == "500" and run.data.params["n_synthetic"] == str(n_synthetic)
        kinds = {f"realworld_{k}_accuracy" for k in synth.KINDS}
        assert kinds | {"realworld_accuracy", "realworld_min_kind_accuracy"} <= set(run.data.metrics)
        assert 0.5 < run.data.metrics["realworld_accuracy"] <= 1.0
        assert len(run.data.params["data_hash"]) == 64
        assert 0.5 < run.data.metrics["holdout_accuracy"] <= 1.0
        assert {f"holdout_recall_{c}" for c in range(10)} <= set(run.data.metrics)
        assert {f"holdout_precision_{c}" for c in range(10)} <= set(run.data.metrics)
        files = {a.path for a in client.list_artifacts(mv.run_id)}
        assert {"confusion_matrix.png", "classification_report.json", "realworld.json"} <= files
    # Signature: (n, 784) float32 in, (n, 10) out.
    import mlflow.pyfunc

    pyfunc = mlflow.pyfunc.load_model(
        client.get_model_version_download_uri(registry.MODEL_NAME, aliases["v2"])
    )
    info = pyfunc.metadata
    assert list(info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == [-1, 784]
    assert list(info.signature.outputs.to_dict()[0]["tensor-spec"]["shape"]) == [-1, 10]


def test_bootstrap_is_idempotent(store_uri):
    client = registry.client_for(store_uri)
    before = _versions(client)
    result = tracking.bootstrap(store_uri, log=lambda _m: None)
    assert result["created"] == [] and result["runs"] == {}
    assert _versions(client) == before
    assert set(result["aliases"]) == {"v1", "v2", "champion"}


def test_bootstrap_keeps_a_moved_champion(store_uri):
    client = registry.client_for(store_uri)
    registry.set_alias(client, "champion", registry.get_alias_version(client, "v1").version)
    tracking.bootstrap(store_uri, log=lambda _m: None)
    assert registry.registry_aliases(client)["champion"] == registry.registry_aliases(client)["v1"]


def test_store_loads_each_alias_once_and_shares_versions(store_uri, split):
    store = ModelStore(store_uri)
    got = []
    threads = [threading.Thread(target=lambda: got.append(store.get("v2"))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(m) for m in got}) == 1
    v2 = got[0]
    assert v2.alias == "v2" and v2.family == "hog_logreg" and v2.run_id
    champion = store.get("champion")
    assert champion.version == v2.version and champion.model is v2.model  # loaded once
    assert store.served() == {"v2": v2.version, "champion": v2.version}
    assert set(store.aliases()) == {"v1", "v2", "champion"}
    rows = store.versions()
    assert [r["version"] for r in rows] == ["2", "1"]
    assert rows[0]["aliases"] == ["champion", "v2"] and rows[1]["family"] == "logreg"
    proba = v2.predict_proba(split.X_holdout[:64])
    assert proba.shape == (64, 10)
    store.ping()


def test_unknown_alias_and_unreachable_store(store_uri, tmp_path):
    store = ModelStore(store_uri)
    with pytest.raises(ModelNotFound):
        store.get("nope")
    (tmp_path / "not-a-dir").write_text("x")
    broken = ModelStore(f"sqlite:///{tmp_path}/not-a-dir/mlflow.db")
    with pytest.raises(ModelUnavailable):
        broken.ping()
    with pytest.raises(ModelUnavailable):
        broken.get("v2")


def test_hot_swap_when_alias_moves(store_uri, split):
    client = registry.client_for(store_uri)
    store = ModelStore(store_uri)
    old = store.get("v2")
    assert store.refresh() == []
    v1_version = str(registry.get_alias_version(client, "v1").version)
    registry.set_alias(client, "v2", v1_version)
    changes = store.refresh()
    assert changes == [{"alias": "v2", "old": old.version, "new": v1_version, "error": None}]
    new = store.get("v2")
    assert new.version == v1_version and new.family == "logreg"
    assert store.served()["v2"] == v1_version
    # A request holding the old reference still completes with the old model.
    assert old.predict_proba(split.X_holdout[:2]).shape == (2, 10)


def test_failed_load_keeps_last_good(store_uri, monkeypatch):
    client = registry.client_for(store_uri)
    store = ModelStore(store_uri)
    good = store.get("v2")
    registry.set_alias(client, "v2", registry.get_alias_version(client, "v1").version)

    def broken(*_a: object, **_k: object) -> None:
        raise OSError("artifact store down")

    monkeypatch.setattr(registry, "load_version", broken)
    changes = store.refresh()
    assert changes[0]["new"] is None and "artifact store down" in changes[0]["error"]
    assert store.get("v2") is good
    assert "artifact store down" in store.errors["v2"]
    monkeypatch.undo()
    changes = store.refresh()
    assert changes[0]["new"] == str(registry.get_alias_version(client, "v1").version)
    assert "v2" not in store.errors


def test_alias_removed_keeps_last_good(store_uri):
    client = registry.client_for(store_uri)
    store = ModelStore(store_uri)
    good = store.get("champion")
    client.delete_registered_model_alias(registry.MODEL_NAME, "champion")
    store.refresh()
    assert store.get("champion") is good and "champion" in store.errors


def test_maybe_refresh_respects_interval(store_uri):
    client = registry.client_for(store_uri)
    store = ModelStore(store_uri)
    store.get("v2")
    assert store.maybe_refresh(3600) == []  # first call checks
    registry.set_alias(client, "v2", registry.get_alias_version(client, "v1").version)
    assert store.maybe_refresh(3600) is None  # too soon: no registry call
    assert store.get("v2").family == "hog_logreg"
    changes = store.maybe_refresh(0)
    assert [c["alias"] for c in changes] == ["v2"]


def test_maybe_refresh_does_not_block_while_another_thread_refreshes(store_uri):
    store = ModelStore(store_uri)
    store.get("v2")
    started, release = threading.Event(), threading.Event()
    original = store.refresh

    def slow_refresh() -> list:
        started.set()
        release.wait(10)
        return original()

    store.refresh = slow_refresh  # type: ignore[method-assign]
    t = threading.Thread(target=store.maybe_refresh, args=(0,))
    t.start()
    assert started.wait(10)
    assert store.maybe_refresh(0) is None  # returns at once instead of waiting
    release.set()
    t.join()


def test_loaded_model_works_through_mlflow_pyfunc(store_uri, split):
    """What `mlflow models serve` does: pyfunc predict returns probabilities."""
    import mlflow.pyfunc

    client = registry.client_for(store_uri)
    uri = client.get_model_version_download_uri(registry.MODEL_NAME, registry.registry_aliases(client)["v2"])
    out = np.asarray(mlflow.pyfunc.load_model(uri).predict(split.X_holdout[:3]))
    assert out.shape == (3, 10)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    # The alias URI resolves through the (globally configured) registry too.
    assert mlflow.pyfunc.load_model(registry.model_uri("v2")).predict(split.X_holdout[:1]).shape == (1, 10)
