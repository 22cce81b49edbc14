"""Fault injection on private servers: the database stopped mid-load, Redis (limiter storage) stopped,
the MLflow tracking server gone, a retrain process killed, a corrupted model file in the store."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from sqlalchemy import select

from app.extensions import db
from app.retrain.models import RetrainJob
from tests.conftest import TEMPLATE_LIMIT
from tests.factories import holdout_digit, mnist_as_photo, post_predict
from tests.polling import json_ok, poll
from tests.reliability.servers import PrivatePostgres, PrivateRedis

ROOT = Path(__file__).resolve().parents[2]
FAST = 5.0  # "fail fast": any answer during an outage comes within this many seconds
# Tests that poll an endpoint set its limit themselves: a slow machine must not turn the default
# per-user limit (50 per hour) into 429s half-way through a poll.
POLL_LIMIT = "10000 per hour"


def _photo(index: int = 0) -> bytes:
    return mnist_as_photo(holdout_digit(index)[0])


def _predict(client, headers: dict, alias: str = "v1", index: int = 0):  # noqa: ANN202
    return post_predict(client, headers, _photo(index), alias)


def _user_headers(app, client, name: str = "faulty", role: str = "user") -> dict:
    from app.auth.services import create_user

    with app.app_context():
        create_user(name, "fault-password-1", role=role)
        db.session.remove()
    resp = client.post("/login", json={"username": name, "password": "fault-password-1"})
    assert resp.status_code == 200, resp.get_json()
    return {"Authorization": f"Bearer {resp.get_json()['access_token']}"}


# --- PostgreSQL stopped mid-load ---------------------------------------------------------------


@pytest.fixture
def private_pg():
    server = PrivatePostgres()
    yield server
    server.close()


@pytest.mark.postgres
@pytest.mark.usefixtures("models")
def test_database_outage_mid_load_fails_fast_and_recovers(private_pg, base_overrides):
    from app import create_app
    from app.config import normalise_database_url

    app = create_app(
        "testing",
        {
            **base_overrides,
            "SQLALCHEMY_DATABASE_URI": normalise_database_url(private_pg.url),
            "KEY_NAMESPACE": f"pgfault-{uuid.uuid4().hex[:8]}",
            "RATELIMIT_ENABLED": False,
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "connect_args": {"connect_timeout": 3}},
        },
    )
    with app.app_context():
        db.create_all()
    client = app.test_client()
    headers = _user_headers(app, client)
    assert _predict(client, headers).status_code == 200

    results: list[tuple[str, int, float, dict | None]] = []
    stop_at = time.monotonic() + 60

    def worker(n: int) -> None:
        c = app.test_client()
        for i in range(400):  # bounded in count and in time
            if time.monotonic() > stop_at or (phase["value"] == "after" and i > phase["after_start"] + 20):
                return
            started = time.monotonic()
            kind = ("predict", "me", "feedback")[i % 3]
            if kind == "predict":
                resp = _predict(c, headers, index=n)
            elif kind == "me":
                resp = c.get("/auth/me", headers=headers)
            else:
                resp = c.post("/feedback", headers=headers, json={"prediction": 1, "correct": True})
            results.append((phase["value"], resp.status_code, time.monotonic() - started, resp.get_json()))

    phase = {"value": "before", "after_start": 10**9}
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(worker, n) for n in range(6)]
        poll(lambda: len(results), lambda n: n >= 30, timeout=30)
        phase["value"] = "down"
        private_pg.stop()
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        body = ready.get_json()
        assert body["failing"] == ["database"] and "database" in body["error"]["message"]
        poll(lambda: sum(1 for r in results if r[0] == "down" and r[1] == 503), lambda n: n >= 30, timeout=30)
        private_pg.start()
        phase["value"] = "after"
        phase["after_start"] = 0
        # Recovers by itself: no restart, no manual pool reset.
        poll(lambda: client.get("/health/ready").status_code, lambda s: s == 200, timeout=30)
        for f in futures:
            f.result(timeout=90)

    statuses = {(p, s) for p, s, _, _ in results}
    assert all(s in (200, 201, 503) for _, s in statuses), statuses
    down = [r for r in results if r[0] == "down" and r[1] == 503]
    assert down and all(r[3]["error"]["code"] == "database_unavailable" for r in down)
    slowest = max(r[2] for r in results if r[0] == "down")
    assert slowest < FAST, slowest
    assert _predict(client, headers).status_code == 200
    assert client.get("/auth/me", headers=headers).status_code == 200
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# --- Redis (rate-limit storage) stopped ---------------------------------------------------------


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    yield server
    server.stop()


@pytest.mark.redis
@pytest.mark.usefixtures("models")
def test_limiter_storage_outage_falls_back_to_memory_limits(make_app, private_redis, caplog):
    """Choice: fail open to per-process in-memory limits (RATELIMIT_IN_MEMORY_FALLBACK_ENABLED),
    with a logged warning. Predictions keep working while Redis is down; limits still apply (per
    worker rather than deployment-wide), so login brute force stays throttled; Redis is used again
    once it answers."""
    app = make_app(
        RATELIMIT_STORAGE_URI=private_redis.url,
        REDIS_URL=None,
        LOGIN_RATE_LIMIT="1000 per minute",
        LOGIN_ACCOUNT_RATE_LIMIT="3 per minute",
        PREDICT_V1_LIMIT="1000 per day",
    )
    assert app.config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] is True
    client = app.test_client()
    headers = _user_headers(app, client, "limited-user")
    assert _predict(client, headers).status_code == 200
    private_redis.stop()
    with caplog.at_level(logging.WARNING):
        started = time.monotonic()
        resp = _predict(client, headers)
        assert resp.status_code == 200, resp.get_json()
        assert time.monotonic() - started < FAST
        logins = [
            client.post("/login", json={"username": "victim", "password": "nope-nope-1"}).status_code
            for _ in range(5)
        ]
    assert logins == [401, 401, 401, 429, 429], logins
    assert any(
        "falling back to in-memory" in r.getMessage().lower() or "storage" in r.getMessage().lower()
        for r in caplog.records
        if r.levelno >= logging.WARNING
    ), [r.getMessage() for r in caplog.records]
    private_redis.start()
    poll(lambda: _predict(client, headers).status_code, lambda s: s == 200, timeout=30)


@pytest.mark.redis
def test_token_store_outage_is_503_not_500(make_app, private_redis):
    """With REDIS_URL on the private Redis, the revoked-token list lives there. Redis down: an
    authenticated request cannot tell whether its token was revoked, so it is refused (fail closed)
    with a quick JSON 503, never accepted and never a 500."""
    app = make_app(
        REDIS_URL=private_redis.url, RATELIMIT_STORAGE_URI=private_redis.url, RATELIMIT_DEFAULT=POLL_LIMIT
    )
    client = app.test_client()
    headers = _user_headers(app, client, "blocklisted")
    assert client.get("/auth/me", headers=headers).status_code == 200
    private_redis.stop()
    # A "not revoked" answer is reused for AUTH_CACHE_SECONDS (0.5 s; app/auth/cache.py): the
    # refusal comes once that answer has lapsed, and then at once.
    poll(lambda: client.get("/auth/me", headers=headers).status_code, lambda s: s != 200, timeout=5)
    started = time.monotonic()
    resp = client.get("/auth/me", headers=headers)
    assert time.monotonic() - started < FAST
    assert resp.status_code == 503, resp.get_json()
    assert resp.get_json()["error"]["code"] == "token_store_unavailable"
    assert client.get("/health").status_code == 200
    private_redis.start()
    poll(lambda: client.get("/auth/me", headers=headers).status_code, lambda s: s == 200, timeout=30)


# --- MLflow tracking server unavailable --------------------------------------------------------


@pytest.mark.usefixtures("models")
def test_tracking_server_down_predictions_continue_retrain_fails_readiness_names_it(
    make_app, template_store, tmp_path, monkeypatch
):
    from devstack import stack

    # No MLFLOW_HTTP_* settings here: init_predict's defaults must make a dead server fail fast.
    for key in ("MAX_RETRIES", "BACKOFF_FACTOR", "TIMEOUT"):
        monkeypatch.delenv(f"MLFLOW_HTTP_REQUEST_{key}", raising=False)
    backend = tmp_path / "mlruns"
    backend.mkdir()
    shutil.copy(template_store / "mlruns" / "mlflow.db", backend / "mlflow.db")
    server = stack.start_mlflow_server(f"sqlite:///{backend / 'mlflow.db'}", tmp_path / "artifacts", tmp_path)
    try:
        app = make_app(
            MLFLOW_TRACKING_URI=server.url, RETRAIN_DATA_LIMIT=TEMPLATE_LIMIT, RATELIMIT_DEFAULT=POLL_LIMIT
        )
        client = app.test_client()
        admin = _user_headers(app, client, "ml-admin", role="admin")
        first = _predict(client, admin)
        assert first.status_code == 200, first.get_json()
        assert client.get("/health/ready").status_code == 200
        server.stop()

        started = time.monotonic()
        for i in range(5):
            resp = _predict(client, admin, index=i)
            assert resp.status_code == 200, resp.get_json()
            assert resp.get_json()["model_version"] == first.get_json()["model_version"]
        assert time.monotonic() - started < 5 * FAST
        ready = client.get("/health/ready")
        assert ready.status_code == 503 and ready.get_json()["failing"] == ["model_store"]
        # A retrain is refused up front (the base alias cannot be checked) or fails cleanly.
        resp = client.post("/admin/retrain", headers=admin, json={"base": "v1"})
        assert resp.status_code in (202, 503), resp.get_json()  # was a 500 (unhandled ModelUnavailable)
        if resp.status_code == 202:
            job = poll(
                lambda: json_ok(client.get(f"/admin/retrain/{resp.get_json()['job_id']}", headers=admin)),
                lambda j: j["status"] in ("failed", "succeeded", "rejected"),
                timeout=60,
            )
            assert job["status"] == "failed" and job["error"]
        else:
            assert resp.get_json()["error"]["code"] in ("model_store_unavailable", "model_unavailable")
        with app.app_context():
            assert db.session.scalar(select(RetrainJob.id).where(RetrainJob.active_lock.is_not(None))) is None
            db.session.remove()
    finally:
        server.stop()


# --- a retrain process killed mid-run ----------------------------------------------------------

KILLED_RETRAIN = """
import os, sys
from app import create_app
from app.retrain.jobs import create_job, update_job
from app.retrain.runner import run_job
from app.extensions import db
app = create_app("testing", {
    "SQLALCHEMY_DATABASE_URI": os.environ["T_DB"], "MLFLOW_TRACKING_URI": os.environ["T_ML"],
    "KEY_NAMESPACE": "killed-retrain", "RETRAIN_DATA_LIMIT": None,
})
with app.app_context():
    job = create_job(int(os.environ["T_USER"]), {"base": "v1", "promote_to": "v1", "epochs": 500}, None, 60)
    job_id = job.id
    db.session.remove()
print(job_id, flush=True)
run_job(app, job_id)
"""


@pytest.mark.usefixtures("models")
def test_killed_retrain_process_leaves_a_job_that_restart_marks_interrupted(
    make_app, store_uri, database_url, tmp_path
):
    app = make_app(MLFLOW_TRACKING_URI=store_uri, RATELIMIT_DEFAULT=POLL_LIMIT)
    from app.auth.services import create_user

    with app.app_context():
        user_id = create_user("killer", "kill-password-1", role="admin").id
        db.session.remove()
    env = {
        **os.environ,
        "T_DB": database_url,
        "T_ML": store_uri,
        "T_USER": str(user_id),
        "LOG_LEVEL": "WARNING",
    }
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_RETRAIN],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        job_id = int(proc.stdout.readline() or b"0")
        assert job_id, proc.stderr.read()[-3000:]

        def status() -> tuple[str, int]:
            with app.app_context():
                try:
                    job = db.session.get(RetrainJob, job_id)
                    return job.status, job.progress
                finally:
                    db.session.remove()

        poll(status, lambda s: s[0] == "running" and s[1] >= 5, timeout=120)
        os.kill(proc.pid, signal.SIGKILL)  # a real kill: no finally blocks, no clean-up
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert status()[0] == "running"  # left behind, holding the lock
    # "Restart": start-up recovery, with the heartbeat now older than the stale limit.
    from app.retrain.jobs import recover_interrupted

    restarted = make_app(
        MLFLOW_TRACKING_URI=store_uri, RETRAIN_STALE_SECONDS=1.0, RATELIMIT_DEFAULT=POLL_LIMIT
    )
    poll(lambda: (recover_interrupted(restarted), status())[1], lambda s: s[0] == "failed", timeout=30)
    with restarted.app_context():
        job = db.session.get(RetrainJob, job_id)
        assert job.error.startswith("interrupted") and job.step == "interrupted"
        assert job.active_lock is None
        db.session.remove()
    # The lock is free: a new retrain may be queued.
    client = restarted.test_client()
    tokens = client.post("/login", json={"username": "killer", "password": "kill-password-1"}).get_json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    restarted.config["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'gone' / 'mlflow.db'}"  # fails fast
    resp = client.post("/admin/retrain", headers=headers, json={"base": "v1"})
    assert resp.status_code == 202, resp.get_json()
    poll(
        lambda: json_ok(client.get(f"/admin/retrain/{resp.get_json()['job_id']}", headers=headers))["status"],
        lambda s: s in ("failed", "succeeded", "rejected"),
        timeout=60,
    )


# --- a corrupted model file in the store -------------------------------------------------------


@pytest.mark.usefixtures("models")
def test_corrupted_model_version_keeps_last_good_one_serving_and_reports_it(make_app, store_uri, tmp_path):
    app = make_app(MLFLOW_TRACKING_URI=store_uri)
    client = app.test_client()
    admin = _user_headers(app, client, "corrupt-admin", role="admin")
    good = _predict(client, admin, "v1")
    assert good.status_code == 200
    good_version = good.get_json()["model_version"]

    ml = MlflowClient(store_uri, registry_uri=store_uri)
    from app.ml import registry

    source = Path(
        ml.get_model_version_download_uri(registry.MODEL_NAME, good_version).removeprefix("file://")
    )
    broken = tmp_path / "broken-model"
    shutil.copytree(source, broken)
    for f in broken.glob("model.*"):
        f.write_bytes(b"\x00garbage, not a model" * 10)
    mv = ml.create_model_version(registry.MODEL_NAME, broken.as_uri(), run_id=None, tags={"family": "logreg"})
    registry.set_alias(ml, "v1", mv.version)

    after = _predict(client, admin, "v1", index=1)  # MODEL_RELOAD_INTERVAL=0: this request refreshes
    assert after.status_code == 200, after.get_json()
    assert after.get_json()["model_version"] == good_version
    models = client.get("/admin/models", headers=admin).get_json()
    assert models["served"]["v1"] == good_version
    assert "v1" in models["errors"] and str(mv.version) in models["errors"]["v1"], models["errors"]
    # Readiness stays 200 (the service works) and says which alias is degraded.
    ready = client.get("/health/ready").get_json()
    assert ready["status"] == "ready"
    assert "v1" in ready["checks"].get("model_errors", ""), ready
    # Once the alias points at a good version again, the error clears.
    registry.set_alias(ml, "v1", good_version)
    _predict(client, admin, "v1", index=2)
    assert client.get("/admin/models", headers=admin).get_json()["errors"] == {}
