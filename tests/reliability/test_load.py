"""Load with nothing lost: gunicorn (4 workers) on a fresh PostgreSQL database, 50 concurrent clients
posting predictions and feedback. Afterwards the database holds exactly the rows the clients were
answered 2xx for: no lost writes, no duplicates; and no 5xx at all.

Bounded: CLIENTS x ROUNDS requests pairs at most, and a wall-clock deadline. Figures are printed
(and recorded in docs/reliability.md).
"""

from __future__ import annotations

import os
import shutil
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
import requests

from devstack import stack
from tests.factories import holdout_digit, mnist_as_photo

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CLIENTS = int(os.environ.get("LOAD_CLIENTS", 50))
ROUNDS = int(os.environ.get("LOAD_ROUNDS", 40))  # per client: a prediction, then feedback on it
DEADLINE_S = float(os.environ.get("LOAD_DEADLINE_S", 240))
USERS = 5
PASSWORD = "load-password-1"


def test_load_no_lost_writes_no_duplicates_no_5xx(template_store: Path, tmp_path: Path) -> None:
    store = tmp_path / "mlruns"
    store.mkdir()
    shutil.copy(template_store / "mlruns" / "mlflow.db", store / "mlflow.db")
    with stack.pg_database("digitserve_load") as name:
        env = stack.base_env(
            APP_ENV="production",
            **stack.production_secrets(),
            DATABASE_URL=stack.pg_url(name),
            MLFLOW_TRACKING_URI=f"sqlite:///{store / 'mlflow.db'}",
            KEY_NAMESPACE=f"load-{uuid.uuid4().hex[:8]}",
            RATELIMIT_DEFAULT="1000000 per hour",
            PREDICT_V1_LIMIT="1000000 per day",
            PREDICT_V2_LIMIT="1000000 per day",
            LOGIN_RATE_LIMIT="1000 per minute",
            LOG_LEVEL="WARNING",
        )
        stack.run(stack.flask_cmd("db", "upgrade"), env)
        stack.run_parallel(
            [
                (stack.flask_cmd("create-user", f"load{i}", "--password-stdin"), env, f"{PASSWORD}\n")
                for i in range(USERS)
            ]
        )
        with stack.running(lambda: stack.start_gunicorn(env, tmp_path, workers=4)) as server:
            figures = _drive(server.url)
        with psycopg.connect(stack.pg_url(name)) as conn:
            pred_ids = {row[0] for row in conn.execute("SELECT id FROM predictions")}
            fb_rows = conn.execute("SELECT prediction_id FROM feedback").fetchall()

    print(f"\nload figures: {figures['summary']}")
    assert figures["server_errors"] == [], figures["server_errors"][:5]
    assert figures["transport_errors"] == [], figures["transport_errors"][:5]
    ok_predictions = figures["prediction_ids"]
    assert len(ok_predictions) == len(set(ok_predictions))  # no id handed out twice
    assert pred_ids == set(ok_predictions), (len(pred_ids), len(ok_predictions))  # none lost, none extra
    fb_ids = [row[0] for row in fb_rows]
    assert len(fb_ids) == len(set(fb_ids)) == len(figures["feedback_ok"])
    assert set(fb_ids) == set(figures["feedback_ok"])
    assert len(ok_predictions) >= CLIENTS * ROUNDS // 2  # the run did real work


def _drive(url: str) -> dict:
    tokens = []
    for i in range(USERS):
        resp = requests.post(f"{url}/login", json={"username": f"load{i}", "password": PASSWORD}, timeout=30)
        assert resp.status_code == 200, resp.text
        tokens.append(resp.json()["access_token"])
    images = [mnist_as_photo(holdout_digit(i)[0]) for i in range(20)]
    lock = threading.Lock()
    out: dict = {
        "latencies": [],
        "prediction_ids": [],
        "feedback_ok": [],
        "server_errors": [],
        "transport_errors": [],
        "other": {},
        "requests": 0,
    }
    deadline = time.monotonic() + DEADLINE_S

    def record(
        kind: str, resp: requests.Response | None, elapsed: float, exc: Exception | None = None
    ) -> None:
        with lock:
            out["requests"] += 1
            out["latencies"].append(elapsed)
            if exc is not None:
                out["transport_errors"].append(f"{kind}: {exc!r}")
            elif resp.status_code >= 500:
                out["server_errors"].append(f"{kind}: {resp.status_code} {resp.text[:200]}")
            elif resp.status_code >= 300:
                out["other"][resp.status_code] = out["other"].get(resp.status_code, 0) + 1

    def client(n: int) -> None:
        session = requests.Session()
        headers = {"Authorization": f"Bearer {tokens[n % USERS]}"}
        for r in range(ROUNDS):
            if time.monotonic() > deadline:
                return
            alias = ("v1", "v2")[(n + r) % 2]
            started = time.perf_counter()
            try:
                resp = session.post(
                    f"{url}/api/{alias}/predict",
                    headers=headers,
                    files={"file": ("d.png", images[(n + r) % len(images)], "image/png")},
                    timeout=60,
                )
            except requests.RequestException as exc:
                record("predict", None, time.perf_counter() - started, exc)
                continue
            record("predict", resp, time.perf_counter() - started)
            if resp.status_code != 200:
                continue
            body = resp.json()
            with lock:
                out["prediction_ids"].append(body["prediction_id"])
            correct = r % 3 != 0
            fb = {"prediction_id": body["prediction_id"], "correct": correct}
            if not correct:
                fb["label"] = (body["prediction"] + 1) % 10
            started = time.perf_counter()
            try:
                resp = session.post(f"{url}/feedback", headers=headers, json=fb, timeout=60)
            except requests.RequestException as exc:
                record("feedback", None, time.perf_counter() - started, exc)
                continue
            record("feedback", resp, time.perf_counter() - started)
            if resp.status_code in (200, 201):
                with lock:
                    out["feedback_ok"].append(body["prediction_id"])

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        for future in [pool.submit(client, n) for n in range(CLIENTS)]:
            future.result(timeout=DEADLINE_S + 120)
    wall = time.monotonic() - started
    lat = sorted(out["latencies"])
    out["summary"] = {
        "clients": CLIENTS,
        "requests": out["requests"],
        "predictions_2xx": len(out["prediction_ids"]),
        "feedback_2xx": len(out["feedback_ok"]),
        "5xx": len(out["server_errors"]),
        "transport_errors": len(out["transport_errors"]),
        "other_non_2xx": out["other"],
        "wall_s": round(wall, 1),
        "throughput_rps": round(out["requests"] / wall, 1),
        "p50_ms": round(statistics.median(lat) * 1000, 1),
        "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 1),
        "max_ms": round(lat[-1] * 1000, 1),
    }
    return out
