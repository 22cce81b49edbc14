"""Scale-out: gunicorn with three workers on PostgreSQL, each running a scheduler thread from its
start (gunicorn.conf.py post_worker_init): exactly one takes the scheduler lease and acts, and the
retrain policy starts exactly one job by itself once enough labels arrived.

Real processes on loopback: a fresh PostgreSQL database, the `flask` CLI (db upgrade, accounts) and
`gunicorn -c gunicorn.conf.py`. The registry is a private copy of the tests' template (SQLite
MLflow store). No retrain process runs (RETRAIN_EMBEDDED=0): the job the policy starts stays
queued, which is all this test needs to see."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import requests

from devstack import stack
from tests.factories import digit_photo, holdout_digit
from tests.polling import json_ok, poll

pytestmark = [pytest.mark.postgres]

WORKERS = 3
WAIT = 30.0


def _login(url: str, creds: dict[str, str]) -> dict[str, str]:
    resp = requests.post(f"{url}/login", json=creds, timeout=WAIT)
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def _label(url: str, headers: dict[str, str], index: int) -> None:
    """One prediction and its true label: one counted, training-usable label."""
    resp = requests.post(
        f"{url}/api/v1/predict",
        headers=headers,
        files={"file": ("d.png", digit_photo(index), "image/png")},
        timeout=WAIT,
    )
    assert resp.status_code == 200, resp.text
    body, label = resp.json(), holdout_digit(index)[1]
    verdict = {"correct": True} if body["prediction"] == label else {"correct": False, "label": label}
    fb = requests.post(
        f"{url}/feedback",
        headers=headers,
        json={"prediction_id": body["prediction_id"], **verdict},
        timeout=WAIT,
    )
    assert fb.status_code == 201, fb.text


def test_three_workers_one_scheduler_one_policy_job(tmp_path: Path, store_uri: str):
    with stack.pg_database("digitserve_policy") as app_db:
        env = stack.base_env(
            APP_ENV="production",
            **stack.production_secrets(),
            DATABASE_URL=stack.pg_url(app_db),
            MLFLOW_TRACKING_URI=store_uri,
            KEY_NAMESPACE=f"pol-{uuid.uuid4().hex[:10]}",
            RETRAIN_EXECUTOR="process",
            RETRAIN_EMBEDDED="0",
            RETRAIN_STALE_SECONDS="3600",
            SCHEDULER_TICK_SECONDS="0.2",
            SCHEDULER_LEASE_SECONDS="30",
            NOTIFY_DELIVERER="0",
            RATELIMIT_DEFAULT="10000 per hour",
            LOGIN_RATE_LIMIT="1000 per minute",
            LOG_LEVEL="INFO",
        )
        stack.run(stack.flask_cmd("db", "upgrade"), env)
        admin = {"username": "pol-admin", "password": "pol-admin-password-1"}
        user = {"username": "pol-user", "password": "pol-user-password-1"}
        stack.create_accounts(env, admin, user)
        with stack.running(lambda: stack.start_gunicorn(env, tmp_path, workers=WORKERS)) as server:
            try:
                _check(server, admin, user)
            except BaseException:
                print(server.log_tail(8000))
                raise


def _check(server: stack.Server, admin: dict[str, str], user: dict[str, str]) -> None:
    url = server.url
    admin_h, user_h = _login(url, admin), _login(url, user)
    policy = {"enabled": True, "min_new_labels": 3, "cooldown_seconds": 3600, "job": {"base": "v1"}}
    resp = requests.put(f"{url}/admin/retrain/policy", headers=admin_h, json=policy, timeout=WAIT)
    assert resp.status_code == 200, resp.text
    for index in range(3):
        _label(url, user_h, index)
    page = poll(
        lambda: json_ok(requests.get(f"{url}/admin/retrain", headers=admin_h, timeout=WAIT)),
        lambda p: p["total"] >= 1,
        timeout=60,
    )
    [job] = page["items"]
    assert job["trigger"] == "policy:min_new_labels (3 new labels >= 3)" and job["status"] == "queued"

    holder = json_ok(requests.get(f"{url}/admin/retrain/policy", headers=admin_h, timeout=WAIT))["scheduler"]
    pid = int(holder["holder"].split(":")[1])
    assert pid != server.proc.pid  # a worker, not the master
    # Every worker runs a scheduler, ticking every 0.2 s all along; one of them ever took the
    # lease, and one job was started.
    log = server.log_tail(10**7)
    started = set(re.findall(r"scheduler started: (\S+)", log))
    assert len(started) >= WORKERS and holder["holder"] in started, started
    assert set(re.findall(r"took the scheduler lease: (\S+)", log)) == {holder["holder"]}
    again = json_ok(requests.get(f"{url}/admin/retrain/policy", headers=admin_h, timeout=WAIT))["scheduler"]
    assert again["holder"] == holder["holder"] and again["expires_at"] >= holder["expires_at"]
    assert json_ok(requests.get(f"{url}/admin/retrain", headers=admin_h, timeout=WAIT))["total"] == 1
