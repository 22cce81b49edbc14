"""Start and stop the real scale-out stack on loopback: PostgreSQL databases, an MLflow tracking
server, the `flask` CLI and gunicorn. Used by the tests and by bench/.

Every server runs in its own process group (start_new_session) so that `stop` also ends its
children (gunicorn workers, MLflow's uvicorn workers); waits are bounded polls, never sleeps.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get("SCALEOUT_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    """A loopback port that was free a moment ago (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(**extra: str) -> dict[str, str]:
    """The current environment with .venv/bin first on PATH and the project importable."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env['PYTHONPATH']}" if env.get("PYTHONPATH") else str(ROOT)
    env["FLASK_APP"] = "wsgi:app"
    # Test-suite variables must not leak into the servers (e.g. DATABASE_URL of the pytest pass).
    for key in ("DATABASE_URL", "REDIS_URL", "MLFLOW_TRACKING_URI", "APP_ENV", "FLASK_ENV"):
        env.pop(key, None)
    env.update(extra)
    return env


def production_secrets() -> dict[str, str]:
    return {"SECRET_KEY": secrets.token_urlsafe(32), "JWT_SECRET_KEY": secrets.token_urlsafe(32)}


# --------------------------------------------------------------------------- PostgreSQL


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type] - identifiers below are generated, not input


def pg_url(name: str, driver: str = "postgresql") -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}".replace("postgresql://", f"{driver}://", 1)


@contextmanager
def pg_database(prefix: str) -> Iterator[str]:
    """A fresh database named `<prefix>_<hex>`, dropped WITH (FORCE) afterwards; yields its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------- processes


class Server:
    """A started server process (own process group) and its log file."""

    def __init__(self, name: str, proc: subprocess.Popen, log_path: Path, url: str) -> None:
        self.name, self.proc, self.log_path, self.url = name, proc, log_path, url

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the process group (graceful), SIGKILL it if still alive after `timeout`."""
        if self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # The leader is gone; stragglers of the group (workers) get SIGKILL too.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def spawn(name: str, cmd: list[str], env: Mapping[str, str], log_dir: Path, url: str = "") -> Server:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log: IO[bytes] = open(log_path, "wb")  # noqa: SIM115 - the child owns it; closed on our side below
    try:
        proc = subprocess.Popen(
            cmd, env=dict(env), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    finally:
        log.close()
    return Server(name, proc, log_path, url)


def wait_http(server: Server, path: str, timeout: float = 90.0, status: int = 200) -> None:
    """Poll `server.url + path` until it answers `status`; fail early if the process died."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited ({server.proc.returncode}):\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.url + path, timeout=5) as resp:
                if resp.status == status:
                    return
                last = str(resp.status)
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = repr(exc)
        time.sleep(0.2)  # poll interval of a bounded wait
    raise RuntimeError(f"{server.name} not ready at {path} within {timeout}s ({last}):\n{server.log_tail()}")


def run(cmd: list[str], env: Mapping[str, str], stdin: str | None = None, timeout: float = 300.0) -> str:
    """Run a command to completion; raise with its output if it fails."""
    done = subprocess.run(
        cmd, env=dict(env), cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def run_parallel(jobs: list[tuple[list[str], Mapping[str, str], str | None]], timeout: float = 300.0) -> None:
    """Run independent commands at once (each CLI start imports MLflow: seconds each)."""
    procs = [
        (
            cmd,
            stdin,
            subprocess.Popen(
                cmd,
                env=dict(env),
                cwd=ROOT,
                text=True,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            ),
        )
        for cmd, env, stdin in jobs
    ]
    failures = []
    for cmd, stdin, proc in procs:
        try:
            out, _ = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        if proc.returncode != 0:
            failures.append(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out}")
    if failures:
        raise RuntimeError("\n".join(failures))


def create_accounts(env: Mapping[str, str], admin: dict[str, str], user: dict[str, str]) -> None:
    """An admin and a user through the CLI (`flask create-admin/create-user --password-stdin`)."""
    run_parallel(
        [
            (flask_cmd("create-admin", admin["username"], "--password-stdin"), env, admin["password"] + "\n"),
            (flask_cmd("create-user", user["username"], "--password-stdin"), env, user["password"] + "\n"),
        ]
    )


def flask_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", *args]


# --------------------------------------------------------------------------- servers


def start_mlflow_server(backend_uri: str, artifacts: Path, log_dir: Path, workers: int = 1) -> Server:
    """`mlflow server` on a free loopback port, artifacts proxied (--serve-artifacts)."""
    port = free_port()
    cmd = [
        str(VENV_BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--backend-store-uri", backend_uri,
        "--artifacts-destination", str(artifacts), "--serve-artifacts",
    ]  # fmt: skip
    server = spawn("mlflow-server", cmd, base_env(), log_dir, f"http://127.0.0.1:{port}")
    try:
        wait_http(server, "/health", timeout=120)
    except BaseException:
        server.stop()
        raise
    return server


def start_gunicorn(env: Mapping[str, str], log_dir: Path, workers: int = 4, name: str = "gunicorn") -> Server:
    """gunicorn -c gunicorn.conf.py wsgi:app on a free loopback port; returns once /health/ready is 200."""
    port = free_port()
    full = {**env, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers)}
    full.setdefault("GUNICORN_ACCESS_LOG", "")  # no access log: it is noise here and costs CPU under load
    cmd = [str(VENV_BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "wsgi:app"]
    server = spawn(name, cmd, full, log_dir, f"http://127.0.0.1:{port}")
    try:
        wait_http(server, "/health/ready", timeout=120)
    except BaseException:
        server.stop()
        raise
    return server


def start_retrain_worker(env: Mapping[str, str], log_dir: Path, redis_url: str, namespace: str) -> Server:
    """`python -m app.retrain.worker` (an RQ worker on the deployment's retrain queue); returns once
    it is registered in Redis, listening on that queue."""
    from redis import Redis
    from rq import Queue, Worker

    server = spawn("retrain-worker", [sys.executable, "-m", "app.retrain.worker"], env, log_dir)
    queue = Queue(f"{namespace}-retrain", connection=Redis.from_url(redis_url))
    deadline = time.monotonic() + 120
    while not Worker.all(queue=queue):
        if server.proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"retrain worker not ready:\n{server.log_tail()}")
        time.sleep(0.2)  # poll interval of a bounded wait
    return server


@contextmanager
def running(start: Callable[[], Server]) -> Iterator[Server]:
    server = start()
    try:
        yield server
    finally:
        server.stop()
