"""gunicorn settings. Threaded workers: Flask-SocketIO's threading mode serves WebSocket through
simple-websocket on gthread workers; several workers share state through Redis (REDIS_URL)."""

import os

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Each worker loads the models itself; preloading would share MLflow/SQLAlchemy state across forks.
preload_app = False


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
