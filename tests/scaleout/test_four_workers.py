"""Scale-out: four gunicorn workers on PostgreSQL + Redis + an MLflow tracking server behave as one.

Everything is real and on loopback: fresh PostgreSQL databases (app and MLflow), `mlflow server`,
the `flask` CLI (models bootstrap, db upgrade, create-admin/create-user) and gunicorn with
`-c gunicorn.conf.py`. The `X-Served-By` header (SERVED_BY_HEADER) names the worker that answered.

Which worker accepts a new connection is the kernel's and the scheduler's choice (on a busy machine
one worker may win every time), so a test never hopes for a spread: `worker_sessions` opens fresh
connections until the workers it needs have each answered one (bounded), and keeps each open; a
gthread worker serves every request of a keep-alive connection it accepted, so a request sent on
that session is served by that worker.

Proved across workers: (a) one rate limit, (b) Socket.IO notifications reach an admin connected
to one worker whichever worker served the request, (c) one retrain at a time, run by a real RQ
queue worker process (`python -m app.retrain.worker`), never by a serving worker, (d) every worker
serves the promoted model version within the reload interval, and the previous one after a rollback.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio

from devstack import stack
from tests.factories import digit_photo, holdout_digit
from tests.polling import json_ok, poll

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

WORKERS = 4
V2_LIMIT = 8
RELOAD_INTERVAL = 1.0
WAIT = 15.0  # bound for any single expected event or state change; normally far less
DISCOVER = 60.0  # bound for finding connections to distinct workers


@dataclass
class Deployment:
    url: str
    redis_url: str
    namespace: str
    admin: dict[str, str]
    user: dict[str, str]
    gunicorn: stack.Server
    database_url: str


def _login(url: str, username: str, password: str) -> dict[str, Any]:
    resp = requests.post(f"{url}/login", json={"username": username, "password": password}, timeout=WAIT)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    import os

    tmp: Path = tmp_path_factory.mktemp("scaleout")
    redis_url = os.environ["REDIS_URL"]
    namespace = f"mp-{uuid.uuid4().hex[:10]}"
    with (
        stack.pg_database("digitserve_mp") as app_db,
        stack.pg_database("digitserve_mp_mlflow") as mlflow_db,
        stack.running(
            lambda: stack.start_mlflow_server(
                stack.pg_url(mlflow_db, "postgresql+psycopg"), tmp / "artifacts", tmp
            )
        ) as mlflow_server,
    ):
        env = stack.base_env(
            APP_ENV="production",
            **stack.production_secrets(),
            DATABASE_URL=stack.pg_url(app_db),
            REDIS_URL=redis_url,
            MLFLOW_TRACKING_URI=mlflow_server.url,
            KEY_NAMESPACE=namespace,
            SERVED_BY_HEADER="1",
            PREDICT_V2_LIMIT=f"{V2_LIMIT} per day",
            PREDICT_V1_LIMIT="10000 per day",
            RATELIMIT_DEFAULT="10000 per hour",
            LOGIN_RATE_LIMIT="1000 per minute",
            RETRAIN_DATA_LIMIT="500",
            RETRAIN_PROMOTION_MARGIN="-0.05",
            MODEL_RELOAD_INTERVAL=str(RELOAD_INTERVAL),
            PROMETHEUS_MULTIPROC_DIR=str(tmp / "prometheus"),
            GUNICORN_GRACEFUL_TIMEOUT="5",
            # Pinned connections (worker_sessions) must outlive a retrain on a slow machine.
            GUNICORN_KEEPALIVE="600",
            LOG_LEVEL="WARNING",
        )
        # Independent: the registry (MLflow server) and the schema (app database).
        stack.run_parallel(
            [
                (stack.flask_cmd("models", "bootstrap", "--limit", "500"), env, None),
                (stack.flask_cmd("db", "upgrade"), env, None),
            ]
        )
        admin = {"username": "mp-admin", "password": "mp-admin-password-1"}
        user = {"username": "mp-user", "password": "mp-user-password-1"}
        stack.create_accounts(env, admin, user)
        with (
            stack.running(lambda: stack.start_retrain_worker(env, tmp, redis_url, namespace)),
            stack.running(lambda: stack.start_gunicorn(env, tmp, workers=WORKERS)) as server,
        ):
            try:
                yield Deployment(server.url, redis_url, namespace, admin, user, server, stack.pg_url(app_db))
            except BaseException:
                print(server.log_tail(8000))
                raise


def _headers(dep: Deployment, who: str) -> dict[str, str]:
    creds = dep.admin if who == "admin" else dep.user
    token = _login(dep.url, creds["username"], creds["password"])["access_token"]
    return {"Authorization": f"Bearer {token}"}


def worker_sessions(dep: Deployment, want: int, timeout: float = DISCOVER) -> dict[str, requests.Session]:
    """`want` sessions, each on a keep-alive connection to a different worker, keyed by worker pid.

    Opens rounds of concurrent fresh connections (concurrent arrivals give every worker a chance to
    accept one), keeps one per newly seen worker and closes the rest, until `want` workers have
    answered; fails after `timeout`."""
    found: dict[str, requests.Session] = {}
    deadline = time.monotonic() + timeout
    while len(found) < want:
        assert time.monotonic() < deadline, f"only workers {sorted(found)} accepted within {timeout}s"
        batch = [requests.Session() for _ in range(2 * WORKERS)]
        with ThreadPoolExecutor(len(batch)) as pool:
            pids = list(pool.map(lambda s: _pid(s.get(f"{dep.url}/health", timeout=WAIT)), batch))
        for pid, session in zip(pids, batch, strict=True):
            if pid in found or len(found) >= want:
                session.close()
            else:
                found[pid] = session
    return found


def _close(sessions: dict[str, requests.Session]) -> None:
    for session in sessions.values():
        session.close()


def _predict(
    dep: Deployment, headers: dict[str, str], alias: str, index: int, via: requests.Session | None = None
) -> requests.Response:
    return (via or requests).post(
        f"{dep.url}/api/{alias}/predict",
        headers=headers,
        files={"file": ("d.png", digit_photo(index), "image/png")},
        timeout=WAIT,
    )


def _pid(resp: requests.Response) -> str:
    pid = resp.headers.get("X-Served-By")
    assert pid, f"no X-Served-By header: {resp.headers}"
    return pid


def test_rate_limit_is_shared_by_all_workers(deployment: Deployment) -> None:
    headers = _headers(deployment, "user")
    sessions = list(worker_sessions(deployment, WORKERS).values())
    statuses, pids = [], []
    try:
        for index in range(V2_LIMIT + 4):  # round robin over the workers
            resp = _predict(deployment, headers, "v2", index, via=sessions[index % len(sessions)])
            statuses.append(resp.status_code)
            pids.append(_pid(resp))
    finally:
        _close(dict(enumerate(sessions)))
    assert statuses == [200] * V2_LIMIT + [429] * 4, statuses
    # Every worker served some of the allowed requests and refused some of the extra ones.
    assert len(set(pids[:V2_LIMIT])) == WORKERS and len(set(pids[V2_LIMIT:])) == WORKERS, pids


class AdminSocket:
    """A real Socket.IO client over WebSocket only (long-polling would need sticky sessions)."""

    def __init__(self) -> None:
        self.sio = socketio.Client(reconnection=False)
        self.inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        for name in ("feedback_received", "sync"):
            self.sio.on(name, handler=lambda data=None, _n=name: self.inbox.put((_n, data)))

    def collect(self, event: str, want: set[str], key: str, timeout: float = WAIT) -> set[str]:
        """Receive `event`s until every value in `want` was seen in payload[key]; returns them."""
        got: set[str] = set()
        deadline = time.monotonic() + timeout
        while not want <= got:
            try:
                name, data = self.inbox.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"missing {event} for {sorted(want - got)} after {timeout}s") from None
            if name == event and isinstance(data, dict):
                got.add(str(data.get(key)))
        return got


def _sync(dep: Deployment, listener: AdminSocket, admin_id: int) -> None:
    """Emit through Redis until the socket's worker delivers it: that worker subscribes to the
    queue in a thread started by its first connection, so the very first emits could be missed."""
    from flask_socketio import SocketIO

    external = SocketIO(message_queue=dep.redis_url, channel=f"{dep.namespace}-socketio")

    def attempt() -> bool:
        marker = uuid.uuid4().hex
        external.emit("sync", {"marker": marker}, to=f"user:{admin_id}", namespace="/")
        try:
            return bool(listener.collect("sync", {marker}, "marker", timeout=0.5))
        except AssertionError:
            return False

    poll(attempt, bool, timeout=WAIT, interval=0)


def test_feedback_notifications_reach_an_admin_on_another_worker(deployment: Deployment) -> None:
    admin_login = _login(deployment.url, deployment.admin["username"], deployment.admin["password"])
    user_headers = _headers(deployment, "user")
    sessions = list(worker_sessions(deployment, WORKERS).values())
    listener = AdminSocket()
    listener.sio.connect(
        deployment.url, auth={"token": admin_login["access_token"]}, transports=["websocket"],
        wait_timeout=WAIT,
    )  # fmt: skip
    try:
        admin_id = requests.get(
            f"{deployment.url}/auth/me",
            headers={"Authorization": f"Bearer {admin_login['access_token']}"},
            timeout=WAIT,
        ).json()["id"]
        _sync(deployment, listener, admin_id)
        feedback_ids: set[str] = set()
        pids: set[str] = set()
        for index in range(12):
            _, label = holdout_digit(100 + index)
            # Prediction and feedback each from another worker, round robin over all of them.
            pred = _predict(deployment, user_headers, "v1", 100 + index, via=sessions[index % WORKERS])
            assert pred.status_code == 200, pred.text
            body = pred.json()
            verdict = {"correct": True} if body["prediction"] == label else {"correct": False, "label": label}
            fb = sessions[(index + 1) % WORKERS].post(
                f"{deployment.url}/feedback",
                headers=user_headers,
                json={"prediction_id": body["prediction_id"], **verdict},
                timeout=WAIT,
            )
            assert fb.status_code == 201, fb.text
            feedback_ids.add(str(fb.json()["id"]))
            pids |= {_pid(pred), _pid(fb)}
        assert len(pids) == WORKERS, f"requests were not served by every worker: {pids}"
        # Every post, whichever worker served it, reached the one worker holding the WebSocket.
        assert listener.collect("feedback_received", feedback_ids, "feedback_id") == feedback_ids
    finally:
        listener.sio.disconnect()
        _close(dict(enumerate(sessions)))


def _correct_mistakes(dep: Deployment, headers: dict[str, str], n: int = 10) -> None:
    """Feedback on `n` holdout digits v1 gets wrong: a retrain learning them is strictly better
    (the promotion gate never promotes a tie)."""
    wrong = 0
    for index in range(0, 1000, 3):
        body = _predict(dep, headers, "v1", index).json()
        label = holdout_digit(index)[1]
        if body["prediction"] != label:
            fb = {"prediction_id": body["prediction_id"], "correct": False, "label": label}
            resp = requests.post(f"{dep.url}/feedback", headers=headers, json=fb, timeout=WAIT)
            assert resp.status_code == 201, resp.text
            wrong += 1
            if wrong == n:
                return
    raise AssertionError(f"v1 got only {wrong} holdout digits wrong")


def test_one_retrain_at_a_time_then_every_worker_serves_the_new_version(deployment: Deployment) -> None:
    headers = _headers(deployment, "admin")
    before = _predict(deployment, headers, "v1", 0).json()["model_version"]
    _correct_mistakes(deployment, headers)

    attempts = 6
    barrier = threading.Barrier(attempts)
    answers: list[requests.Response] = []
    lock = threading.Lock()
    # Each session's pinned connection carries one of the attempts: they reach every worker.
    pinned = list(worker_sessions(deployment, WORKERS).values())

    def post(via: requests.Session) -> None:
        barrier.wait(timeout=WAIT)
        resp = via.post(f"{deployment.url}/admin/retrain", headers=headers, json={"base": "v1"}, timeout=WAIT)
        with lock:
            answers.append(resp)

    threads = [threading.Thread(target=post, args=(pinned[i % WORKERS],)) for i in range(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=2 * WAIT)
    _close(dict(enumerate(pinned)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [202] + [409] * (attempts - 1), [(r.status_code, r.text) for r in answers]
    job_id = next(r.json()["job_id"] for r in answers if r.status_code == 202)
    conflicts = {r.json()["error"]["details"]["job_id"] for r in answers if r.status_code == 409}
    assert conflicts == {job_id}
    assert len({_pid(r) for r in answers}) == WORKERS, "the concurrent retrains did not reach every worker"

    job_url = f"{deployment.url}/admin/retrain/{job_id}"
    job = poll(
        lambda: json_ok(requests.get(job_url, headers=headers, timeout=WAIT)),
        lambda j: j["status"] in ("succeeded", "failed", "rejected"),
        timeout=90,
        interval=0.25,
    )
    assert job["status"] == "succeeded" and job["promoted"], job
    # It ran in the RQ worker's process, not in a serving worker.
    import psycopg

    with psycopg.connect(deployment.database_url) as conn:
        (owner,) = conn.execute("SELECT owner FROM retrain_jobs WHERE id = %s", (job_id,)).fetchone()
    assert owner.rsplit(":", 1)[1] not in {_pid(r) for r in answers}, owner
    new = str(job["registered_version"])
    assert new != before

    # (d) Within the reload interval every worker serves the new version.
    took, pids = _every_worker_serves(deployment, headers, new)
    print(f"new version {new} on workers {sorted(pids)} {took:.1f}s after promotion was seen")
    # Issue 14: a rollback is served by every worker within the reload interval too.
    resp = requests.post(f"{deployment.url}/admin/models/v1/rollback", headers=headers, timeout=WAIT)
    assert resp.status_code == 200, resp.text
    assert (resp.json()["from_version"], resp.json()["to_version"]) == (new, before)
    took, pids = _every_worker_serves(deployment, headers, before)
    print(f"rolled back to version {before} on workers {sorted(pids)} {took:.1f}s after the rollback")


def _every_worker_serves(deployment: Deployment, headers: dict[str, str], version: str) -> tuple[float, set]:
    """20 consecutive answers, round robin over connections to every worker, all carry `version`.
    Bounded by a few reload intervals plus model loading (and finding the workers)."""
    sessions = list(worker_sessions(deployment, WORKERS).values())
    streak: list[tuple[str, str]] = []
    deadline = time.monotonic() + 10 * RELOAD_INTERVAL + WAIT
    started = time.monotonic()
    sent = 0
    while len(streak) < 20:
        assert time.monotonic() < deadline, f"workers still serve other versions; last streak {streak}"
        resp = _predict(deployment, headers, "v1", len(streak), via=sessions[sent % WORKERS])
        sent += 1
        assert resp.status_code == 200, resp.text
        served = (resp.json()["model_version"], _pid(resp))
        streak = streak + [served] if served[0] == version else []
    _close(dict(enumerate(sessions)))
    pids = {pid for _, pid in streak}
    assert len(pids) == WORKERS, f"version {version} was not seen from every worker: {pids}"
    return time.monotonic() - started, pids


def test_log_out_everywhere_closes_admin_sockets_on_every_worker(deployment: Deployment) -> None:
    """Issue 13, item 5: the close goes through the message queue, so sockets held by other workers
    than the one serving the logout close too (four sockets, four new TCP connections)."""
    tokens = _login(deployment.url, deployment.admin["username"], deployment.admin["password"])
    sockets = []
    try:
        for _ in range(4):
            listener = AdminSocket()
            listener.sio.connect(
                deployment.url, auth={"token": tokens["access_token"]}, transports=["websocket"],
                wait_timeout=WAIT,
            )  # fmt: skip
            sockets.append(listener)
        resp = requests.post(
            f"{deployment.url}/auth/logout-all",
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
            timeout=WAIT,
        )
        assert resp.status_code == 200, resp.text
        poll(lambda: [s.sio.connected for s in sockets], lambda up: not any(up), timeout=WAIT)
    finally:
        for listener in sockets:
            if listener.sio.connected:
                listener.sio.disconnect()
