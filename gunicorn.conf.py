"""gunicorn settings. gevent workers: each request and each open WebSocket is a greenlet, so an
idle or unauthenticated socket costs a few KB, never a request thread, and adding clients adds no
thread contention (the old gthread workers: 16 threads each, one per open socket, fighting over
the GIL). Flask-SocketIO runs in its gevent mode there (WebSocket through simple-websocket);
several workers share state through Redis (REDIS_URL). psycopg 3 detects gevent's patching and
waits cooperatively; SQLite, scikit-learn and the JWT checks are short CPU work.

Several workers need no sticky sessions as long as Socket.IO clients use the WebSocket transport
(one connection stays on one worker); long-polling spreads a session's requests over workers.
Every setting can be overridden with the environment variable named beside it.
"""

import os
import subprocess
import sys
import threading
import time

import gevent
from gunicorn.workers.ggevent import GeventWorker


class FairGeventWorker(GeventWorker):
    """gevent worker that serves its keep-alive connections in turn.

    A greenlet gives the CPU away only when a socket read would block. A client that sends its
    next request as soon as it has the answer finds it already waiting when the greenlet loops
    back to read, so a few connections kept the worker while the rest waited: measured at 32
    closed-loop clients, p50 8 ms but p95 420 ms and p99 660 ms (three or four connections got
    almost every answer). One yield before each request puts it behind the requests that are
    already waiting: at 32 clients the busiest connection got 1.5-2x the answers of the idlest
    instead of 4-6x, and p99 fell to 120-210 ms at the same throughput (README, Benchmarks).
    """

    def handle_request(self, listener_name, req, sock, addr):  # noqa: ANN001, ANN201 - gunicorn's
        gevent.sleep(0)
        return super().handle_request(listener_name, req, sock, addr)

# All interfaces only for production (make serve-prod, the Docker image): a plain
# `gunicorn -c gunicorn.conf.py wsgi:app` without APP_ENV serves the development config, on loopback.
_production = (os.environ.get("APP_ENV") or "").lower() == "production"
bind = os.environ.get("BIND", "0.0.0.0:8000" if _production else "127.0.0.1:8000")
# One worker per core by default: predictions are CPU work, one process per core uses them all.
workers = int(os.environ.get("WEB_CONCURRENCY", "0")) or (os.cpu_count() or 1)
worker_class = os.environ.get("GUNICORN_WORKER_CLASS") or FairGeventWorker
# Concurrent connections (HTTP keep-alive and WebSocket) per worker; each is a greenlet.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
# The worker heartbeats from its event loop: a long-lived WebSocket does not trip this; only a
# worker wedged in CPU work for this long does.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# On SIGTERM, in-flight requests get this long; open WebSockets also keep a worker alive until
# then (clients reconnect to another worker), so keep it short enough for rolling restarts.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# The heartbeat file lives on tmpfs when there is one: on a container's overlay filesystem its
# fchmod can stall and get healthy workers killed.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# GUNICORN_ACCESS_LOG="" turns the access log off (benchmarks); "-" is stdout.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# gunicorn 25.1+ opens a control socket (for `gunicornc`) at one per-user default path
# ($XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl): a second instance on the host takes
# it over, and stopping either removes it. Off unless GUNICORN_CONTROL_SOCKET names this instance's.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
else:
    control_socket_disable = True
# Each worker loads the models itself; preloading would share MLflow/SQLAlchemy state across forks.
preload_app = False


def _retrain_executor() -> str:
    # Same rule as app.config.Config.RETRAIN_EXECUTOR (not imported: the master stays app-free).
    return os.environ.get("RETRAIN_EXECUTOR") or ("rq" if os.environ.get("REDIS_URL") else "process")


_retrain = {"proc": None, "stopping": False}


def _spawn_retrain_process(server) -> subprocess.Popen:  # noqa: ANN001 - gunicorn's arbiter
    cwd = os.path.dirname(os.path.abspath(__file__))
    # Its own session: a terminal's Ctrl-C or a group SIGTERM reaches the master, whose on_exit
    # stops it after the workers; it also exits by itself if the master dies (parent watch).
    env = {**os.environ, "RETRAIN_PARENT_PID": str(os.getpid())}
    cmd = [sys.executable, "-m", "app.retrain.worker"]
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, start_new_session=True)
    _retrain["proc"] = proc
    server.log.info("retrain process started (pid %s)", proc.pid)
    return proc


def _supervise_retrain_process(server, proc: subprocess.Popen) -> None:  # noqa: ANN001
    # The embedded retrain process: retraining never runs in a serving worker. Restarted if it
    # dies (a job it was running is failed by the new one's start-up recovery: dead pid). This
    # thread only waits and respawns: every import happened at module level, before any fork, so
    # a worker forked meanwhile never sees a half-imported module.
    while True:
        code = proc.wait()
        if _retrain["stopping"]:
            return
        server.log.warning("retrain process %s exited (%s); restarting", proc.pid, code)
        time.sleep(1.0)  # back-off before a restart
        if _retrain["stopping"]:
            return
        proc = _spawn_retrain_process(server)


def when_ready(server):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    if _retrain_executor() == "process" and os.environ.get("RETRAIN_EMBEDDED", "1") != "0":
        proc = _spawn_retrain_process(server)  # first spawn from the main thread
        threading.Thread(target=_supervise_retrain_process, args=(server, proc), daemon=True).start()


def on_exit(server):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    _retrain["stopping"] = True
    proc = _retrain["proc"]
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=float(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30")))
        except Exception:  # noqa: BLE001 - still running: it must not outlive the server
            proc.kill()


def on_starting(server):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    # Metrics files of a previous run would be summed into this one's: start from an empty dir.
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        import shutil

        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path, exist_ok=True)


def child_exit(server, worker):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    # Prometheus multiprocess mode (PROMETHEUS_MULTIPROC_DIR, emptied before each start): drop the
    # dead worker's live gauges (digitserve_served_model_version) so /metrics stops reporting them.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def worker_exit(server, worker):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    # A stopping worker hands the scheduler lease over at once (app/policy), instead of leaving the
    # deployment without a scheduler until the lease expires.
    app = getattr(worker, "wsgi", None)
    if app is not None and hasattr(app, "extensions"):
        from app.policy import stop_scheduler

        try:
            stop_scheduler(app)
        except Exception:  # noqa: BLE001 - the lease then expires by itself
            server.log.warning("could not stop the scheduler of worker %s", worker.pid)


# Packages a serving worker never uses but would import anyway, ~145 MB of resident memory per
# worker: pandas (~66 MB; scikit-learn imports it when installed, MLflow's sklearn flavour needs it,
# so models are loaded by app/ml/artifact.py), pyarrow (pandas loads it), pytest (scikit-learn's
# test helpers, through skops' type list), aiohttp (python-engineio's asyncio client), rich
# (scikit-learn's progress bars) and pygments (Mako's exception highlighting, through Alembic).
# Each importer treats ModuleNotFoundError as "not installed". Refused in the workers only; the
# CLI, the retrain process and the tests keep them.
_REFUSED = os.environ.get("SERVING_REFUSED_IMPORTS", "pandas,pyarrow,pytest,_pytest,aiohttp,rich,pygments")
SERVING_REFUSED_IMPORTS = frozenset(name.strip() for name in _REFUSED.split(",") if name.strip())


class _RefuseImports:
    """A meta-path finder that answers ModuleNotFoundError for the named top-level packages, the
    answer their optional importers (pandas, scikit-learn) already handle as "not installed"."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def find_spec(self, name, path=None, target=None):  # noqa: ANN001, ANN201 - importlib's protocol
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r} (refused in serving workers)", name=name)
        return None


def post_fork(server, worker):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    # Runs in the new worker before it imports the app.
    if SERVING_REFUSED_IMPORTS:
        sys.meta_path.insert(0, _RefuseImports(SERVING_REFUSED_IMPORTS))


def post_worker_init(worker):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    # Load the served models before this worker takes its first request: otherwise the first
    # request per alias and worker pays the MLflow load (about a second) and its clients time out
    # or see second-long latencies right after every (re)start. A failure here is not fatal: the
    # store loads lazily on first use and /health/ready reports the registry.
    app = getattr(worker, "wsgi", None)
    store = getattr(app, "extensions", {}).get("digitserve.models") if app is not None else None
    if store is None:
        return
    for alias in os.environ.get("PRELOAD_ALIASES", "v1,v2").split(","):
        if not alias.strip():
            continue
        try:
            with app.app_context():
                store.get(alias.strip())
        except Exception as exc:  # noqa: BLE001 - e.g. alias not registered yet: serve, load later
            worker.log.warning("could not preload model alias %s: %s", alias, exc)
    # Everything loaded so far (Flask, MLflow, scikit-learn, the models) lives for the whole
    # worker: move it out of the garbage collector's generations, so full collections scan only
    # what requests allocate instead of pausing a request for the whole heap.
    import gc

    gc.collect()
    gc.freeze()
    # Every worker is a scheduler candidate from its start, not from its first request (app/policy:
    # one of them, the lease holder, acts).
    if app.config.get("SCHEDULER_ENABLED"):
        from app.policy import ensure_scheduler

        ensure_scheduler(app)
