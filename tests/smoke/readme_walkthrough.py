"""The README's walk-through, run as written against a live server, every answer checked.

`make smoke` (or `python -m tests.smoke.readme_walkthrough`) and tests/smoke/test_readme_walkthrough.py
run it. The server is started the way `make run` starts it (`flask db upgrade`, `flask models
bootstrap`, one gunicorn process with gunicorn.conf.py) on the embedded defaults, except that the
SQLite database and the MLflow store live in a temporary directory and the port is a free one: the
developer's instance/ and mlruns/ are never touched.

The commands are read from the README's ```bash blocks under "Try it with curl" and "An A/B test
and a retrain", so the README cannot drift from what works. They run unchanged but for these
substitutions, which only move the walk-through onto the temporary instance:
  localhost:5000 / 127.0.0.1:5000   -> the free port the server listens on
  .venv/bin/                        -> the bin directory of the running Python's environment
  sqlite:///mlruns/mlflow.db        -> the temporary MLflow store
  --port 5050 (mlflow ui)           -> another free port
Each command has a check below (matched by what it calls); a README command without one fails the
run, so a changed walk-through needs its check updated too.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack import stack

ROOT = stack.ROOT
README = ROOT / "README.md"
SECTIONS = ("### Try it with curl", "### An A/B test and a retrain")
README_PORT, MLFLOW_UI_PORT = 5000, 5050
STEP_TIMEOUT = 120.0  # bound for one command (the retrain poll and the MLflow UI start included)


# --------------------------------------------------------------------------- the README's commands


def readme_commands(text: str | None = None) -> list[str]:
    """The shell commands of the walk-through sections, continuation lines joined, comments dropped."""
    text = README.read_text() if text is None else text
    commands: list[str] = []
    for heading in SECTIONS:
        start = text.index(heading)
        block = re.search(r"```bash\n(.*?)```", text[start:], re.S)
        assert block, f"no bash block under {heading!r}"
        pending = ""
        for line in block.group(1).splitlines():
            stripped = line.strip()
            if not pending and (not stripped or stripped.startswith("#")):
                continue
            code = _strip_comment(line)
            if code.rstrip().endswith("\\"):
                pending += code.rstrip()[:-1] + " "
                continue
            commands.append(" ".join((pending + code).split()))
            pending = ""
    return commands


def _strip_comment(line: str) -> str:
    """The line without a trailing `# comment` (outside quotes)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


def localise(command: str, port: int, venv_bin: Path, mlflow_uri: str, ui_port: int) -> str:
    command = re.sub(rf"\b(localhost|127\.0\.0\.1):{README_PORT}\b", rf"\g<1>:{port}", command)
    command = command.replace(".venv/bin/", f"{venv_bin}/")
    command = command.replace("sqlite:///mlruns/mlflow.db", mlflow_uri)
    return command.replace(f"--port {MLFLOW_UI_PORT}", f"--port {ui_port}")


# --------------------------------------------------------------------------- checks


def _json(out: str) -> Any:
    try:
        return json.loads(out)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"not JSON: {out[:500]!r}") from exc


def _token(value: str) -> None:
    assert value.count(".") == 2 and len(value) > 40, f"not a JWT: {value[:200]!r}"


def _check_register(out: str) -> None:
    body = _json(out)
    assert body.get("username") == "ana" and body.get("role") == "user", body


def _check_me(out: str) -> None:
    assert _json(out).get("username") == "ana", out


def _check_predict(out: str) -> None:
    body = _json(out)
    # samples/digit-7.png is a 7; the README's answer says so.
    assert body.get("prediction") == 7 and body.get("version") == "v2", body
    assert body.get("prediccion") == 7 and body.get("probabilidad") == body.get("probability"), body
    assert body.get("prediction_id") == 1 and len(body.get("probabilities", [])) == 10, body


def _check_feedback(out: str) -> None:
    body = _json(out)
    assert body.get("prediction_id") == 1 and body.get("correct") is True, body


def _check_ab_put(out: str) -> None:
    arms = {a["alias"]: a["weight"] for a in _json(out).get("arms", [])}
    assert arms == {"v1": 0.2, "v2": 0.8}, out


def _check_ab_predict(out: str) -> None:
    body = _json(out)
    assert body.get("ab_version") in ("v1", "v2") and body.get("prediction") == 7, body


def _check_report(out: str) -> None:
    body = _json(out)
    assert body.get("total_feedback") == 1 and body.get("correct") == 1, body
    # One unit: fractions; the percent only under its original name.
    assert body.get("accuracy") == 1.0 and body.get("accuracy_percentage") == 100.0, body
    assert [r["model_version"] for r in body["per_version"]], body


def _check_csv(out: str) -> None:
    assert out.splitlines()[0].startswith("model_version,alias,requests"), out[:300]


def _check_retrain_post(out: str) -> None:
    assert re.match(r"HTTP/1\.[01] 202", out), out[:300]
    assert re.search(r"(?im)^location: .*/admin/retrain/1\s*$", out), out[:600]


def _check_job(out: str) -> None:
    body = _json(out)
    assert body.get("id", body.get("job_id")) == 1, body
    assert body.get("status") in ("queued", "running", "succeeded", "rejected"), body
    assert "progress" in body, body


@dataclass
class Step:
    pattern: str  # regex on the README command
    check: Callable[[str], None] | None = None  # on stdout
    assigns: bool = False  # VAR=$(...): check the value, keep it for later commands
    background_url: Callable[[int], str] | None = None  # a server: started, polled, stopped


STEPS = [
    Step(r"create-admin admin --password-stdin"),
    Step(r"/auth/register", _check_register),
    Step(r"^TOKEN=\$\(curl .*/login", _token, assigns=True),
    Step(r"/auth/me", _check_me),
    Step(r"/api/v2/predict .*-F file=@samples/digit-7\.png", _check_predict),
    Step(r"/feedback ", _check_feedback),
    Step(r"^ADMIN=\$\(curl .*/login", _token, assigns=True),
    Step(r"-X PUT .*/admin/ab ", _check_ab_put),
    Step(r"/api/ab/predict .*-F file=@samples/digit-7\.png", _check_ab_predict),
    Step(r"/admin/report -H", _check_report),
    Step(r"/admin/report\.csv", _check_csv),
    Step(r"-si -X POST .*/admin/retrain ", _check_retrain_post),
    Step(r"/admin/retrain/1 ", _check_job),
    Step(r"mlflow ui ", background_url=lambda port: f"http://127.0.0.1:{port}/"),
]


def _step_for(command: str) -> Step:
    matches = [s for s in STEPS if re.search(s.pattern, command)]
    assert len(matches) == 1, f"README command has {len(matches)} checks (needs exactly one): {command}"
    return matches[0]


# --------------------------------------------------------------------------- the run


def _free_port_unlike(*taken: int) -> int:
    while True:
        port = stack.free_port()
        if port not in taken:
            return port


def start_like_make_run(work: Path) -> tuple[stack.Server, dict[str, str]]:
    """`make run`'s recipe (db upgrade, models bootstrap, one gunicorn worker) on a temp instance."""
    mlflow_uri = f"sqlite:///{work / 'mlruns' / 'mlflow.db'}"
    (work / "mlruns").mkdir()
    env = stack.base_env(
        DATABASE_URL=f"sqlite:///{work / 'instance' / 'digitserve.db'}",
        MLFLOW_TRACKING_URI=mlflow_uri,
        LOG_LEVEL="WARNING",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # make run's single process: no multiprocess metrics
    (work / "instance").mkdir()
    limit = os.environ.get("SMOKE_TRAIN_LIMIT")
    stack.run(stack.flask_cmd("db", "upgrade"), env)
    stack.run(stack.flask_cmd("models", "bootstrap", *(["--limit", limit] if limit else [])), env)
    port = _free_port_unlike(README_PORT)
    cmd = [
        str(stack.VENV_BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"),
        "--workers", "1", "--bind", f"127.0.0.1:{port}", "wsgi:app",
    ]  # fmt: skip
    server = stack.spawn("smoke-gunicorn", cmd, env, work, f"http://127.0.0.1:{port}")
    try:
        stack.wait_http(server, "/health/ready", timeout=STEP_TIMEOUT)
    except BaseException:
        server.stop()
        raise
    return server, env


def _wait_job_done(server: stack.Server, admin_token: str) -> None:
    """Let the README's retrain finish before the server stops (bounded poll, backing off)."""
    deadline, interval = time.monotonic() + STEP_TIMEOUT, 0.2
    while time.monotonic() < deadline:
        req = urllib.request.Request(
            f"{server.url}/admin/retrain/1", headers={"Authorization": f"Bearer {admin_token}"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            if json.load(resp)["status"] not in ("queued", "running"):
                return
        time.sleep(interval)  # poll interval of a bounded wait
        interval = min(interval * 2, 2.0)
    raise AssertionError(f"the README's retrain did not finish within {STEP_TIMEOUT}s")


def _run_background(command: str, url: str, env: dict[str, str], work: Path) -> None:
    server = stack.spawn("smoke-mlflow-ui", ["bash", "-c", f"exec {command}"], env, work, url)
    try:
        stack.wait_http(server, "", timeout=STEP_TIMEOUT)
    finally:
        server.stop()


def walk(log: Callable[[str], None] = print) -> list[str]:
    """Run the walk-through; returns the commands run. Raises AssertionError on a wrong answer."""
    commands = readme_commands()
    with tempfile.TemporaryDirectory(prefix="digitserve-smoke-") as tmp:
        work = Path(tmp)
        server, env = start_like_make_run(work)
        try:
            port = int(server.url.rsplit(":", 1)[1])
            ui_port = _free_port_unlike(README_PORT, MLFLOW_UI_PORT, port)
            shell_vars: dict[str, str] = {}
            for readme_command in commands:
                step = _step_for(readme_command)
                command = localise(readme_command, port, stack.VENV_BIN, env["MLFLOW_TRACKING_URI"], ui_port)
                log(f"$ {readme_command}")
                if step.background_url:
                    _run_background(command, step.background_url(ui_port), env, work)
                    log("  -> serves (started, answered, stopped)")
                    continue
                script = command
                if step.assigns:
                    name = command.split("=", 1)[0]
                    script = f'{command}\nprintf %s "${name}"'
                done = subprocess.run(
                    ["bash", "-o", "pipefail", "-c", script],
                    cwd=ROOT,
                    env={**env, **shell_vars},
                    capture_output=True,
                    text=True,
                    timeout=STEP_TIMEOUT,
                )
                assert done.returncode == 0, (
                    f"exit {done.returncode}: {readme_command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
                )
                out = done.stdout
                try:
                    if step.check:
                        step.check(out)
                except AssertionError as exc:
                    raise AssertionError(f"wrong answer to: {readme_command}\n{exc}") from None
                if step.assigns:
                    shell_vars[command.split("=", 1)[0]] = out
                log("  -> " + (out.strip().splitlines() or ["(no output)"])[0][:160])
            if "ADMIN" in shell_vars:
                _wait_job_done(server, shell_vars["ADMIN"])
        except BaseException:
            log(server.log_tail(6000))
            raise
        finally:
            server.stop()
    return commands


def main() -> int:
    try:
        commands = walk()
    except AssertionError as exc:
        print(f"\nSMOKE FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"\nsmoke: all {len(commands)} README commands answered as documented")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(f"usage: {shlex.quote(sys.argv[0])} (no arguments; SMOKE_TRAIN_LIMIT=N trains on N images)")
        raise SystemExit(2)
    raise SystemExit(main())
