"""Shared plumbing for the benchmarks: a cached registry, our gunicorn, wrk runs, tables.

The registry (v1/v2 bootstrapped on the full bundled data) is built once into bench/.cache and
reused; a benchmark that moves aliases (retrain) works on a private copy. Servers are started
through devstack/stack.py (own process groups, bounded readiness polls) and always stopped.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import tempfile
import textwrap
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from app.ml.registry import default_tracking_uri
from devstack import stack
from devstack.images import holdout_digit, mnist_as_photo, multipart

ROOT = stack.ROOT
CACHE = ROOT / "bench" / ".cache"
RESULTS = ROOT / "bench" / "results"
HIGH = "100000000 per day"  # limits on, but never reached during a run
USER = {"username": "bench-user", "password": "bench-password-1"}
ADMIN = {"username": "bench-admin", "password": "bench-admin-password-1"}


def load_average() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def registry_uri() -> str:
    """The cached registry (bootstrapped on the full data on first use)."""
    uri = default_tracking_uri(CACHE)
    db = Path(uri[len("sqlite:///") :])
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        print("bootstrapping v1/v2 on the full bundled data into bench/.cache (once)")
        # The CLI builds the whole app: give it an empty database of its own, not instance/'s.
        env = stack.base_env(MLFLOW_TRACKING_URI=uri, DATABASE_URL=f"sqlite:///{CACHE / 'cli.db'}")
        stack.run(stack.flask_cmd("models", "bootstrap"), env, timeout=900)
    return uri


def private_registry(tmp: Path) -> str:
    """A copy of the cached registry's DB (its artifacts are read in place) that may be changed."""
    src = Path(registry_uri()[len("sqlite:///") :])
    (tmp / "mlruns").mkdir(parents=True, exist_ok=True)
    shutil.copy(src, tmp / "mlruns" / "mlflow.db")
    return default_tracking_uri(tmp)


def sample_png() -> bytes:
    """One real holdout digit, photographed at 140x140 (as a phone upload would be)."""
    return mnist_as_photo(holdout_digit(0)[0])


SAMPLES = 16  # distinct uploads a load run cycles through


def sample_pngs(count: int = SAMPLES) -> list[bytes]:
    """`count` different holdout digits, photographed like sample_png (the first is sample_png)."""
    return [mnist_as_photo(holdout_digit(i)[0]) for i in range(count)]


def sample_uploads(pngs: list[bytes] | None = None) -> tuple[list[bytes], list[str]]:
    """One single-file predict body per PNG (default sample_pngs), each with its own multipart
    boundary as browsers and HTTP libraries send them, and their content types, in order."""
    uploads = [multipart([("d.png", png)]) for png in (pngs or sample_pngs())]
    return [body for body, _ctype in uploads], [ctype for _body, ctype in uploads]


@contextmanager
def our_server(
    backend: str, tmp: Path, *, workers: int = 4, mlflow_uri: str | None = None, **extra: str
) -> Iterator[dict[str, Any]]:
    """Our API on gunicorn (production config, limits high, prediction logging on), with users.

    backend "sqlite": embedded SQLite file + in-memory limiter; "postgres": a fresh PostgreSQL
    database (dropped afterwards) + Redis for limits and Socket.IO. Yields url, tokens, env.
    """
    with ExitStack() as stack_:
        env = {
            "APP_ENV": "production",
            **stack.production_secrets(),
            "MLFLOW_TRACKING_URI": mlflow_uri or registry_uri(),
            "KEY_NAMESPACE": f"bench-{os.urandom(4).hex()}",
            "PREDICT_V1_LIMIT": HIGH,
            "PREDICT_V2_LIMIT": HIGH,
            "RATELIMIT_DEFAULT": HIGH,
            "LOGIN_RATE_LIMIT": HIGH,
            "LOGIN_ACCOUNT_RATE_LIMIT": HIGH,
            "JWT_ACCESS_TOKEN_EXPIRES": "7200",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prometheus"),
            "LOG_LEVEL": "WARNING",
            "INSTANCE_PATH": str(tmp / "instance"),
            **extra,
        }
        if backend == "sqlite":
            env["DATABASE_URL"] = f"sqlite:///{tmp / 'digitserve.db'}"
        elif backend == "postgres":
            name = stack_.enter_context(stack.pg_database("digitserve_bench"))
            env["DATABASE_URL"] = stack.pg_url(name)
            env["REDIS_URL"] = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        else:
            raise ValueError(backend)
        full = stack.base_env(**env)
        stack.run(stack.flask_cmd("db", "upgrade"), full)
        stack.create_accounts(full, ADMIN, USER)
        if backend == "postgres":  # retrains run on an RQ queue worker, as with `make serve-prod`
            stack_.enter_context(
                stack.running(
                    lambda: stack.start_retrain_worker(full, tmp, env["REDIS_URL"], env["KEY_NAMESPACE"])
                )
            )
        name = f"gunicorn-{backend}"
        server = stack_.enter_context(
            stack.running(lambda: stack.start_gunicorn(full, tmp, workers=workers, name=name))
        )
        import requests

        tokens = {}
        for who, creds in (("user", USER), ("admin", ADMIN)):
            resp = requests.post(f"{server.url}/login", json=creds, timeout=30)
            resp.raise_for_status()
            tokens[who] = resp.json()["access_token"]
        yield {"url": server.url, "tokens": tokens, "env": full, "server": server, "backend": backend}


# --------------------------------------------------------------------------- wrk

# wrk reports latency in microseconds; done() prints one JSON line that run_wrk parses.
_LUA = textwrap.dedent(
    """
    local f = assert(io.open("{body_path}", "rb"))
    wrk.method = "POST"
    wrk.body = f:read("*a")
    f:close()
    wrk.headers["Content-Type"] = "{content_type}"
    {auth}

    function done(summary, latency, requests)
      local secs = summary.duration / 1e6
      local e = summary.errors
      io.write(string.format(
        'WRKJSON {{"requests": %d, "seconds": %.3f, "rps": %.2f, "p50_ms": %.3f, "p95_ms": %.3f, ' ..
        '"p99_ms": %.3f, "max_ms": %.3f, "non2xx": %d, "socket_errors": %d}}\\n',
        summary.requests, secs, summary.requests / secs,
        latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
        latency.max / 1000, e.status, e.connect + e.read + e.write + e.timeout))
    end
    """
)


def run_wrk(
    url: str,
    body: bytes | list[bytes],
    content_type: str | list[str],
    *,
    connections: int,
    seconds: int,
    token: str | None = None,
) -> dict[str, Any]:
    """POST `body` to `url` with wrk (one thread, `connections` keep-alive connections); of a
    list of bodies wrk sends the first only."""
    body = body[0] if isinstance(body, list) else body
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    with tempfile.TemporaryDirectory() as tmp:
        body_path = Path(tmp, "body")
        body_path.write_bytes(body)
        auth = f'wrk.headers["Authorization"] = "Bearer {token}"' if token else ""
        script = Path(tmp, "post.lua")
        script.write_text(_LUA.format(body_path=body_path, content_type=content_type, auth=auth))
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("WRKJSON "))
    result = json.loads(line[len("WRKJSON ") :])
    result["errors"] = result["non2xx"] + result["socket_errors"]
    return result


class _ClosedLoop:
    """The shared state of one closed-loop run: its target, the start signal and the results."""

    def __init__(self, url: str, requests: list[tuple[bytes, dict[str, str]]]) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = parts.hostname, parts.port, parts.path
        self.requests = requests  # (body, headers), sent in turn
        self.clients = 0
        self.latencies: list[float] = []
        self.errors = 0
        self.lock = threading.Lock()
        self.start = threading.Event()
        self.deadline = 0.0

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=30)

    def client(self) -> None:
        """One connection: the next request as soon as the previous answer arrived; it cycles
        through the bodies, each client from its own starting point."""
        conn = self._connect()
        mine: list[float] = []
        errors = 0
        with self.lock:
            turn, self.clients = self.clients, self.clients + 1
        self.start.wait()
        while time.monotonic() < self.deadline:
            body, headers = self.requests[turn % len(self.requests)]
            turn += 1
            t0 = time.perf_counter()
            try:
                conn.request("POST", self.path, body, headers)
                resp = conn.getresponse()
                resp.read()
                ok = 200 <= resp.status < 300
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = self._connect()
            mine.append(time.perf_counter() - t0)
            errors += not ok
        conn.close()
        with self.lock:
            self.latencies.extend(mine)
            self.errors += errors


def _latency_summary(latencies: list[float], elapsed: float, errors: int) -> dict[str, Any]:
    latencies = sorted(latencies)
    n = len(latencies)

    def pct(p: float) -> float:
        return round(latencies[min(n - 1, int(n * p))] * 1000, 3) if n else 0.0

    return {
        "requests": n, "seconds": round(elapsed, 3), "rps": round(n / elapsed, 2) if elapsed else 0.0,
        "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99),
        "max_ms": round(latencies[-1] * 1000, 3) if n else 0.0, "errors": errors, "client": "python",
    }  # fmt: skip


def run_closed_loop(
    url: str,
    body: bytes | list[bytes],
    content_type: str | list[str],
    *,
    connections: int,
    seconds: int,
    token: str | None = None,
) -> dict[str, Any]:
    """POST `body` (or each of a list in turn, with its own content type when a list of them is
    given) to `url` from `connections` keep-alive connections, each sending its next request
    when the previous answer arrived (closed loop), for `seconds`; per-request latency.

    Used instead of wrk for the comparison: wrk's latency percentiles against gunicorn's gevent
    workers contradict its own request count (an average of 730 ms at 8 connections and 300
    req/s, which Little's law rules out), while this client's figures add up.
    """
    bodies = body if isinstance(body, list) else [body]
    types = content_type if isinstance(content_type, list) else [content_type] * len(bodies)
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    loop = _ClosedLoop(url, [(b, {"Content-Type": t, **auth}) for b, t in zip(bodies, types, strict=True)])
    threads = [threading.Thread(target=loop.client, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    began = time.monotonic()
    loop.deadline = began + seconds
    loop.start.set()
    for t in threads:
        t.join(timeout=seconds + 60)
    return _latency_summary(loop.latencies, time.monotonic() - began, loop.errors)


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.1f}" if abs(v) >= 100 else f"{v:.2f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
