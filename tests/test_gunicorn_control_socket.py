"""gunicorn.conf.py and gunicorn 25.1+'s control socket (issue 11).

gunicorn's default control socket is one path per user (~/.gunicorn/gunicorn.ctl or
$XDG_RUNTIME_DIR/gunicorn.ctl): two instances on a host share it, and stopping either removes it.
Our config turns it off unless GUNICORN_CONTROL_SOCKET names a path for the instance. Real gunicorn
processes with our config file, serving the tiny WSGI app below (the config is what is tested).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from devstack import stack

WAIT = 60.0


def hello(environ: dict, start_response) -> list[bytes]:  # noqa: ANN001 - WSGI signature
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


@contextmanager
def _gunicorn(
    tmp: Path, name: str, app: str = "tests.test_gunicorn_control_socket:hello", **env: str
) -> Iterator[stack.Server]:
    port = stack.free_port()
    full = stack.base_env(HOME=str(tmp / "home"), BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1", **env)
    full.pop("XDG_RUNTIME_DIR", None)  # the default path then lives under our private HOME
    cmd = [
        str(stack.VENV_BIN / "gunicorn"), "-c", str(stack.ROOT / "gunicorn.conf.py"),
        app,
    ]  # fmt: skip
    server = stack.spawn(name, cmd, full, tmp, f"http://127.0.0.1:{port}")
    try:
        stack.wait_http(server, "/", timeout=WAIT)
        yield server
    finally:
        server.stop()


def _wait_for(path: Path, exists: bool = True) -> None:
    deadline, interval = time.monotonic() + WAIT, 0.05
    while path.exists() != exists:
        assert time.monotonic() < deadline, f"{path} {'never appeared' if exists else 'still there'}"
        time.sleep(interval)  # poll interval of a bounded wait
        interval = min(interval * 2, 1.0)


def test_two_instances_do_not_share_the_default_control_socket(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    with _gunicorn(tmp_path, "first"), _gunicorn(tmp_path, "second") as second:
        assert not (tmp_path / "home" / ".gunicorn" / "gunicorn.ctl").exists()
        assert "control socket" not in second.log_tail().lower()


def test_each_instance_keeps_its_own_control_socket_when_asked(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    first_ctl, second_ctl = tmp_path / "first.ctl", tmp_path / "second.ctl"
    with ExitStack() as both:
        first = both.enter_context(_gunicorn(tmp_path, "first", GUNICORN_CONTROL_SOCKET=str(first_ctl)))
        both.enter_context(_gunicorn(tmp_path, "second", GUNICORN_CONTROL_SOCKET=str(second_ctl)))
        _wait_for(first_ctl)
        _wait_for(second_ctl)
        first.stop()
        _wait_for(first_ctl, exists=False)
        assert second_ctl.exists()  # stopping one instance leaves the other's socket alone
        assert not (tmp_path / "home" / ".gunicorn" / "gunicorn.ctl").exists()
