"""A staged rollout and a retrain never move the same alias at once: the rollout's end would
overwrite the promotion (or a hand-off's rollout would be refused after minutes of training)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.ml import registry
from app.retrain.jobs import create_job
from app.retrain.models import RetrainJob
from app.timeutil import utcnow


@pytest.fixture
def conflict(make_app, store_uri, sign_in):
    app = make_app(MLFLOW_TRACKING_URI=store_uri)
    client, admin = sign_in(app, role="admin")
    aliases = registry.registry_aliases(registry.client_for(store_uri))
    return app, client, admin, aliases


def _jobs(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(RetrainJob))


def test_a_retrain_into_an_alias_under_rollout_is_refused_before_any_job(conflict):
    app, client, admin, aliases = conflict
    resp = client.post("/admin/rollouts", headers=admin, json={"alias": "v1", "version": aliases["v2"]})
    assert resp.status_code == 201, resp.get_json()
    rollout_id = resp.get_json()["id"]
    for body in ({"base": "v1"}, {"base": "v2", "promote_to": "v1"}, {"base": "v1", "rollout": True}):
        resp = client.post("/admin/retrain", headers=admin, json=body)
        assert resp.status_code == 409, (body, resp.get_json())
        error = resp.get_json()["error"]
        assert error["code"] == "rollout_active" and error["details"]["rollout_id"] == rollout_id
    assert _jobs(app) == 0
    # Once the rollout is over, the same request is a job again (created here, not run).
    assert client.post(f"/admin/rollouts/{rollout_id}/cancel", headers=admin).status_code == 200
    with app.app_context():
        job = create_job(None, {"base": "v1", "promote_to": "v1"}, None, 3600)
        assert job.status == "queued"


def test_a_rollout_waits_for_a_retrain_that_will_promote_into_its_alias(conflict):
    app, client, admin, aliases = conflict
    with app.app_context():
        job_id = create_job(None, {"base": "v1", "promote_to": "v1"}, None, 3600).id
    resp = client.post("/admin/rollouts", headers=admin, json={"alias": "v1", "version": aliases["v2"]})
    assert resp.status_code == 409, resp.get_json()
    error = resp.get_json()["error"]
    assert error["code"] == "retrain_in_progress" and error["details"]["job_id"] == job_id
    assert client.get("/admin/rollouts", headers=admin).get_json()["total"] == 0
    # Another alias is free; so is this one once the job is over (here: its heartbeat stopped a day ago).
    other = client.post("/admin/rollouts", headers=admin, json={"alias": "v2", "version": aliases["v1"]})
    assert other.status_code == 201, other.get_json()
    with app.app_context():
        db.session.get(RetrainJob, job_id).heartbeat_at = utcnow() - timedelta(days=1)
        db.session.commit()
    resp = client.post("/admin/rollouts", headers=admin, json={"alias": "v1", "version": aliases["v2"]})
    assert resp.status_code == 201, resp.get_json()
    with app.app_context():
        assert db.session.get(RetrainJob, job_id).status == "failed"


def test_a_hand_off_retrain_does_not_hold_its_alias_against_rollouts(conflict):
    # It moves nothing itself: its own rollout is started (or refused) when it finishes.
    app, client, admin, aliases = conflict
    with app.app_context():
        create_job(None, {"base": "v1", "promote_to": "v1", "rollout": True}, None, 3600)
    resp = client.post("/admin/rollouts", headers=admin, json={"alias": "v1", "version": aliases["v2"]})
    assert resp.status_code == 201, resp.get_json()
