"""Issue 13 item 1: idle, unauthenticated WebSockets must not starve the API.

The server is started the way `make run` starts it: development configuration, a SQLite file,
`flask db upgrade`, then gunicorn with gunicorn.conf.py and its default worker count and class.
Two hundred raw Engine.IO WebSockets are opened and left open without ever authenticating; while
they are open, /health and an authenticated prediction must answer promptly. (With the old
gthread workers, 16 such sockets per worker made every request time out.)
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import requests
import websocket

from devstack import stack
from tests.factories import holdout_digit, mnist_as_photo

pytestmark = [pytest.mark.slow]

SOCKETS = 200
# Generous bound for a shared, loaded CI machine; the target (1 s) is measured, not asserted.
ANSWER_BOUND_S = 5.0


def test_200_unauthenticated_sockets_do_not_block_health_or_predictions(
    template_store: Path, tmp_path: Path
) -> None:
    store = tmp_path / "mlruns"
    store.mkdir()
    shutil.copy(template_store / "mlruns" / "mlflow.db", store / "mlflow.db")
    env = stack.base_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'digitserve.db'}",
        MLFLOW_TRACKING_URI=f"sqlite:///{store / 'mlflow.db'}",
        INSTANCE_PATH=str(tmp_path / "instance"),
        LOG_LEVEL="WARNING",
        # The guard's own limits would refuse or close most of these sockets: lift them, so
        # that the worker model itself is what is tested.
        SOCKET_MAX_PER_ADDRESS="1000",
        SOCKET_AUTH_TIMEOUT="600",
    )
    env.pop("WEB_CONCURRENCY", None)
    stack.run(stack.flask_cmd("db", "upgrade"), env)
    stack.run(stack.flask_cmd("create-user", "sockuser", "--password-stdin"), env, "sock-password-1\n")
    port = stack.free_port()
    cmd = [str(stack.VENV_BIN / "gunicorn"), "-c", str(stack.ROOT / "gunicorn.conf.py"), "wsgi:app"]
    env_run = {**env, "BIND": f"127.0.0.1:{port}", "GUNICORN_ACCESS_LOG": ""}
    server = stack.spawn("gunicorn-run", cmd, env_run, tmp_path, f"http://127.0.0.1:{port}")
    sockets: list[websocket.WebSocket] = []
    try:
        stack.wait_http(server, "/health/ready", timeout=120)
        token = requests.post(
            f"{server.url}/login", json={"username": "sockuser", "password": "sock-password-1"}, timeout=30
        ).json()["access_token"]
        url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
        for _ in range(SOCKETS):
            ws = websocket.create_connection(url, timeout=30)
            assert ws.recv().startswith("0{")
            sockets.append(ws)

        started = time.monotonic()
        health = requests.get(f"{server.url}/health", timeout=ANSWER_BOUND_S)
        health_s = time.monotonic() - started
        assert health.status_code == 200

        png = mnist_as_photo(holdout_digit(0)[0])
        started = time.monotonic()
        pred = requests.post(
            f"{server.url}/api/v2/predict",
            headers={"Authorization": f"Bearer {token}"},
            files={"file": ("d.png", png, "image/png")},
            timeout=ANSWER_BOUND_S,
        )
        predict_s = time.monotonic() - started
        assert pred.status_code == 200, pred.text
        print(f"\n{SOCKETS} idle sockets: /health {health_s * 1e3:.0f} ms, predict {predict_s * 1e3:.0f} ms")
        # The sockets are still open: none was dropped to make room.
        for ws in sockets[:10]:
            ws.ping()
    finally:
        for ws in sockets:
            try:
                ws.close(timeout=0.1)
            except Exception:  # noqa: BLE001 - closing what the server may already have closed
                pass
        server.stop()
