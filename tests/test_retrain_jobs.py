from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from sqlalchemy import func, select

from app.extensions import db
from app.ml import registry
from app.retrain.models import RetrainJob
from app.timeutil import utcnow
from tests.conftest import TEMPLATE_LIMIT as LIMIT
from tests.factories import holdout_digit, mnist_as_photo, predict_ok
from tests.polling import json_ok, poll


@pytest.fixture
def rt_app(make_app, store_uri):
    return make_app(
        MLFLOW_TRACKING_URI=store_uri,
        RETRAIN_DATA_LIMIT=LIMIT,
        RETRAIN_PROMOTION_MARGIN=-0.05,
        RATELIMIT_DEFAULT="10000 per hour",
        PREDICT_V1_LIMIT="10000 per day",
    )


@pytest.fixture
def rt(rt_app):
    """(client, admin headers) on the retrain app."""
    from app.auth.services import create_user

    with rt_app.app_context():
        create_user("trainer", "trainer-pass-1", role="admin")
    client = rt_app.test_client()
    tokens = client.post("/login", json={"username": "trainer", "password": "trainer-pass-1"}).get_json()
    return client, {"Authorization": f"Bearer {tokens['access_token']}"}


def _wait(client, headers, job_id: int) -> dict:
    return poll(
        lambda: json_ok(client.get(f"/admin/retrain/{job_id}", headers=headers)),
        lambda job: job["status"] in ("succeeded", "failed", "rejected"),
        timeout=180,
    )


def _predict(client, headers, pixels, alias: str = "v1") -> dict:
    return predict_ok(client, headers, mnist_as_photo(pixels), alias)


def test_retrain_learns_from_feedback_and_is_hot_reloaded(rt_app, rt, store_uri):
    client, headers = rt
    # Collect holdout digits the small v1 gets wrong, and say what they really are.
    wrong: list[tuple] = []
    for index in range(0, 1000, 3):
        pixels, label = holdout_digit(index)
        body = _predict(client, headers, pixels)
        if body["prediction"] != label:
            wrong.append((pixels, label, body))
            fb = client.post(
                "/feedback",
                headers=headers,
                json={"prediction_id": body["prediction_id"], "correct": False, "label": label},
            )
            assert fb.status_code == 201
        if len(wrong) == 10:
            break
    assert len(wrong) == 10
    old_version = wrong[0][2]["model_version"]

    resp = client.post("/admin/retrain", headers=headers, json={"base": "v1", "note": "learn from feedback"})
    assert resp.status_code == 202
    assert resp.get_json()["status"] == "queued"
    job_id = resp.get_json()["job_id"]
    assert resp.headers["Location"].endswith(f"/admin/retrain/{job_id}")
    job = _wait(client, headers, job_id)
    assert job["status"] == "succeeded", job
    assert job["progress"] == 100 and job["promoted"] is True and job["error"] is None
    assert job["registered_version"] != old_version
    assert job["metrics"]["n_feedback_total"] == 10 and job["metrics"]["n_feedback_used"] == 8
    assert "promoted to v1" in job["decision"]
    assert job["new_accuracy"] >= job["baseline_accuracy"] - 0.05

    # The MLflow run has the params, metrics, artifacts and a registered version with tags.
    client_ml = MlflowClient(store_uri, registry_uri=store_uri)
    run = client_ml.get_run(job["mlflow_run_id"])
    assert client_ml.get_experiment(run.info.experiment_id).name == "Retraining Experiment"
    for key in ("base_version", "seed", "data_hash", "n_feedback_train", "feedback_weight"):
        assert key in run.data.params, key
    assert "holdout_accuracy" in run.data.metrics and "train_seconds" in run.data.metrics
    artifacts = {a.path for a in client_ml.list_artifacts(run.info.run_id)}
    assert {"confusion_matrix.png", "feedback_ids.json"} <= artifacts, artifacts
    used = json.loads(Path(client_ml.download_artifacts(run.info.run_id, "feedback_ids.json")).read_text())
    mv = client_ml.get_model_version("digit-classifier", job["registered_version"])
    assert mv.tags["job_id"] == str(job_id) and mv.tags["base_version"] == old_version

    # Hot reload: the same app now serves the new version, and it learned the feedback examples.
    with rt_app.app_context():
        from app.feedback.models import Feedback

        train_pids = set(
            db.session.scalars(select(Feedback.prediction_id).where(Feedback.id.in_(used["train"])))
        )
    fixed = 0
    for pixels, label, before in wrong:
        after = _predict(client, headers, pixels)
        assert after["model_version"] == job["registered_version"]
        if before["prediction_id"] in train_pids:
            fixed += after["prediction"] == label
    assert fixed >= len(train_pids) - 1, (fixed, len(train_pids))


def test_gate_rejects_a_worse_model_and_alias_stays(rt_app, rt, store_uri):
    client, headers = rt
    before = registry.registry_aliases(MlflowClient(store_uri, registry_uri=store_uri))
    resp = client.post("/admin/retrain", headers=headers, json={"base": "v1", "shuffle_labels": True})
    assert resp.status_code == 202
    job = _wait(client, headers, resp.get_json()["job_id"])
    assert job["status"] == "rejected", job
    assert job["promoted"] is False and "rejected" in job["decision"]
    assert job["new_accuracy"] < job["baseline_accuracy"]
    assert job["note"] and "no new feedback" in job["note"]
    after = registry.registry_aliases(MlflowClient(store_uri, registry_uri=store_uri))
    assert after["v1"] == before["v1"] and after["v2"] == before["v2"]
    run = MlflowClient(store_uri, registry_uri=store_uri).get_run(job["mlflow_run_id"])
    assert run.data.tags["promoted"] == "false"


def test_second_retrain_while_one_runs_is_409(rt_app, rt):
    client, headers = rt
    first = client.post("/admin/retrain_mlflow", headers=headers, json={"base": "v1"})
    assert first.status_code == 202
    second = client.post("/admin/retrain", headers=headers, json={"base": "v1"})
    assert second.status_code == 409, second.get_json()
    assert second.get_json()["error"]["details"]["job_id"] == first.get_json()["job_id"]
    _wait(client, headers, first.get_json()["job_id"])
    # Lock released: a new job may start.
    third = client.post("/admin/retrain", headers=headers, json={"base": "v1"})
    assert third.status_code == 202
    _wait(client, headers, third.get_json()["job_id"])
    listing = client.get("/admin/retrain?page=1&page_size=2", headers=headers).get_json()
    assert listing["total"] == 2
    assert [j["id"] for j in listing["items"]] == [third.get_json()["job_id"], first.get_json()["job_id"]]


@pytest.mark.parametrize(
    "body",
    [
        {"bogus": 1},
        {"epochs": 0},
        {"epochs": 10_000},
        {"learning_rate": 5.0},
        {"base": "v2", "learning_rate": 0.01},  # v2's family (logistic regression) has no learning rate
        {"base": "v9"},
        {"base": "not a name!"},
        {"family": "random-forest"},
        {"note": "x" * 501},
    ],
)
def test_bad_requests_are_422_and_create_no_job(rt_app, rt, body):
    client, headers = rt
    resp = client.post("/admin/retrain", headers=headers, json=body)
    assert resp.status_code == 422, resp.get_json()
    with rt_app.app_context():
        assert db.session.scalar(select(func.count(RetrainJob.id))) == 0


def test_retrain_is_admin_only(rt_app, user_headers, client):
    assert client.post("/admin/retrain", headers=user_headers, json={}).status_code == 403
    assert client.get("/admin/retrain", headers=user_headers).status_code == 403
    assert client.post("/admin/retrain", json={}).status_code == 401


def test_unknown_job_is_404(rt):
    client, headers = rt
    assert client.get("/admin/retrain/424242", headers=headers).status_code == 404


def test_unreachable_tracking_store_fails_the_job_and_releases_the_lock(rt_app, rt, tmp_path):
    client, headers = rt
    before = client.get("/admin/models", headers=headers).get_json()
    # The registry goes away after the request was validated: the job must fail cleanly.
    rt_app.config["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path}/missing/dir/mlflow.db"
    resp = client.post("/admin/retrain", headers=headers, json={"base": "v1"})
    assert resp.status_code == 202
    job = _wait(client, headers, resp.get_json()["job_id"])
    assert job["status"] == "failed" and job["error"]
    with rt_app.app_context():
        assert db.session.scalar(select(RetrainJob.active_lock).where(RetrainJob.id == job["id"])) is None
    # Serving is untouched.
    assert client.get("/admin/models", headers=headers).get_json()["served"] == before["served"]
    pixels, _ = holdout_digit(0)
    assert _predict(client, headers, pixels)["model_version"] == before["served"].get("v1", "1")


def test_startup_marks_dead_processes_jobs_interrupted(make_app, rt_app):
    with rt_app.app_context():
        stale = RetrainJob(
            status="running",
            active_lock="retrain",
            params={},
            metrics={},
            heartbeat_at=utcnow() - timedelta(minutes=10),
            owner="gone:1",
        )
        queued = RetrainJob(
            status="queued",
            active_lock=None,
            params={},
            metrics={},
            heartbeat_at=utcnow() - timedelta(minutes=10),
            owner="gone:1",
        )
        db.session.add_all([stale, queued])
        db.session.commit()
        stale_id, queued_id = stale.id, queued.id
    restarted = make_app()
    with restarted.app_context():
        for job_id in (stale_id, queued_id):
            job = db.session.get(RetrainJob, job_id)
            assert job.status == "failed" and job.error.startswith("interrupted")
            assert job.active_lock is None


def test_startup_leaves_a_live_workers_job_alone(make_app, rt_app):
    with rt_app.app_context():
        live = RetrainJob(
            status="running",
            active_lock="retrain",
            params={},
            metrics={},
            heartbeat_at=utcnow(),
            owner="other-worker:2",
        )
        db.session.add(live)
        db.session.commit()
        live_id = live.id
    restarted = make_app()
    with restarted.app_context():
        assert db.session.get(RetrainJob, live_id).status == "running"


def test_models_endpoint_lists_versions_with_aliases(rt):
    client, headers = rt
    body = client.get("/admin/models", headers=headers).get_json()
    by_version = {v["version"]: v for v in body["versions"]}
    assert by_version["1"]["aliases"] == ["v1"]
    assert by_version["2"]["aliases"] == ["champion", "v2"]
    assert by_version["2"]["holdout_accuracy"] > 0.5 and by_version["2"]["run_id"]
    assert body["model_name"] == "digit-classifier"
