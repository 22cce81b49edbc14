"""Issue 13 attacks against a server started the way `make run` starts it: gunicorn with
gunicorn.conf.py (one worker here, to measure its memory), embedded defaults (SQLite under
instance/, local MLflow, embedded limits, no APP_ENV and no SECRET_KEY in the environment).

Figures (wall time per request, the worker's resident memory) are printed for docs/reliability.md;
the assertions are on status codes and on memory, which does not depend on machine load.
"""

from __future__ import annotations

import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jwt as pyjwt
import pytest
import requests

from app.config import DEV_SECRET
from devstack import stack
from tests.factories import progressive_jpeg_bomb, webp_bomb

pytestmark = pytest.mark.slow

PASSWORD = "hostile-password-1"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def _worker_pid(master: int) -> int:
    """The one gunicorn worker among the master's children (the other is the retrain process)."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    workers = [
        int(pid) for pid in children if b"app.retrain.worker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert len(workers) == 1, children
    return workers[0]


@pytest.fixture(scope="module")
def make_run_server(template_store: Path, tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("make-run")
    store = base / "mlruns"
    store.mkdir()
    shutil.copy(template_store / "mlruns" / "mlflow.db", store / "mlflow.db")
    env = stack.base_env(
        DATABASE_URL=f"sqlite:///{base / 'instance' / 'digitserve.db'}",
        INSTANCE_PATH=str(base / "instance"),
        MLFLOW_TRACKING_URI=f"sqlite:///{store / 'mlflow.db'}",
        KEY_NAMESPACE=f"hostile-{uuid.uuid4().hex[:8]}",
        LOG_LEVEL="WARNING",
    )
    for key in ("SECRET_KEY", "JWT_SECRET_KEY"):
        env.pop(key, None)
    stack.run(stack.flask_cmd("db", "upgrade"), env)
    stack.run(stack.flask_cmd("create-user", "victim", "--password-stdin"), env, f"{PASSWORD}\n")
    stack.run(stack.flask_cmd("create-admin", "boss", "--password-stdin"), env, f"{PASSWORD}\n")
    with stack.running(lambda: stack.start_gunicorn(env, base, workers=1)) as server:
        yield server
    # The development secret was made under instance/, never the published one.
    assert (base / "instance" / "jwt_secret_key").read_text().strip() != DEV_SECRET


def _token(url: str, name: str = "victim") -> str:
    resp = requests.post(f"{url}/auth/login", json={"username": name, "password": PASSWORD}, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


def test_sixteen_concurrent_decode_bombs_are_413_and_cost_no_memory(make_run_server) -> None:
    url = make_run_server.url
    headers = {"Authorization": f"Bearer {_token(url)}"}
    bombs = [("bomb.jpg", progressive_jpeg_bomb(5000, 2000))] * 8 + [("bomb.webp", webp_bomb(5000))] * 8
    worker = _worker_pid(make_run_server.proc.pid)
    before = _rss_mb(worker)

    def post(item: tuple[str, bytes]) -> tuple[int, float]:
        started = time.monotonic()
        resp = requests.post(f"{url}/api/v2/predict", headers=headers, files={"file": item}, timeout=120)
        return resp.status_code, time.monotonic() - started

    peak = before
    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(post, bomb) for bomb in bombs]
        while not all(f.done() for f in futures):
            peak = max(peak, _rss_mb(worker))
            assert requests.get(f"{url}/health", timeout=30).status_code == 200
        results = [f.result() for f in futures]
    peak = max(peak, _rss_mb(worker))
    slowest = max(t for _s, t in results)
    print(f"\n16 concurrent bombs: statuses {sorted({s for s, _t in results})}, slowest {slowest:.3f} s, "
          f"worker RSS {before:.0f} -> peak {peak:.0f} MB")
    assert {s for s, _t in results} == {413}, results
    assert peak - before < 200, (before, peak)


def test_published_dev_secret_and_nested_json_on_the_make_run_server(make_run_server) -> None:
    url = make_run_server.url
    claims = {"sub": "1", "type": "access", "jti": uuid.uuid4().hex, "exp": int(time.time()) + 600}
    forged = pyjwt.encode(claims, DEV_SECRET, algorithm="HS256")
    resp = requests.get(f"{url}/admin/users", headers={"Authorization": f"Bearer {forged}"}, timeout=30)
    assert resp.status_code == 401
    deep = "[" * 1000 + "]" * 1000
    for path in ("/auth/login", "/auth/register"):
        resp = requests.post(url + path, data=deep, headers={"Content-Type": "application/json"}, timeout=30)
        assert resp.status_code == 400, (path, resp.status_code, resp.text[:200])
    admin = {"Authorization": f"Bearer {_token(url, 'boss')}"}
    assert requests.get(f"{url}/admin/retrain/{2**63}", headers=admin, timeout=30).status_code == 404
    big = {"prediction_id": 2**63, "correct": True}
    resp = requests.post(f"{url}/feedback", headers=admin, json=big, timeout=30)
    assert resp.status_code == 422
