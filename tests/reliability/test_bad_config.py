"""Start-up with a bad configuration: one clear line on stderr and a non-zero exit, no traceback.

Each case imports `wsgi` (what gunicorn and `flask --app wsgi:app` do) in a fresh interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _start(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LOG_LEVEL": "WARNING",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'start.db'}",
        "KEY_NAMESPACE": "bad-config",
    }
    return subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        env={**base, **env},
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _assert_refused(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("digitserve: configuration error:")]
    assert len(lines) == 1, proc.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], lines[0]


STRONG = "Xq7-vR2pLm9Tz4Kw8Ns1Bd6Hf3Jc5Yg0Ue"  # a random-looking 34-character secret

CASES = [
    ("unreachable database", {"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"}, ["database"]),
    ("unknown database scheme", {"DATABASE_URL": "notadb://x/y"}, ["DATABASE_URL"]),
    ("unparsable database url", {"DATABASE_URL": "::not a url::"}, ["DATABASE_URL"]),
    ("malformed AB_ARMS", {"AB_ARMS": "v1:abc"}, ["AB_ARMS"]),
    ("AB_ARMS without weights", {"AB_ARMS": "v1,v2"}, ["AB_ARMS"]),
    ("negative AB_ARMS weight", {"AB_ARMS": "v1:-1,v2:1"}, ["weights"]),
    ("unknown AB_MODE", {"AB_MODE": "roundrobin"}, ["AB_MODE"]),
    (
        "placeholder secret in production",
        {"APP_ENV": "production", "SECRET_KEY": "changeme", "JWT_SECRET_KEY": STRONG},
        ["SECRET_KEY"],
    ),
    (
        "dev secret in production",
        {"APP_ENV": "production", "SECRET_KEY": STRONG},
        ["JWT_SECRET_KEY"],
    ),
    ("unknown APP_ENV", {"APP_ENV": "prod"}, ["APP_ENV"]),
    ("non-integer setting", {"MAX_CONTENT_LENGTH": "lots"}, ["MAX_CONTENT_LENGTH"]),
    ("non-number setting", {"MODEL_RELOAD_INTERVAL": "soon"}, ["MODEL_RELOAD_INTERVAL"]),
]


# Each start costs a few seconds (the app imports MLflow): CI runs one case per kind of mistake,
# the variations run with the `slow` marker.
SLOW_CASES = {
    "unparsable database url",
    "AB_ARMS without weights",
    "negative AB_ARMS weight",
    "unknown AB_MODE",
    "dev secret in production",
}
PARAMS = [
    pytest.param(*case, id=case[0], marks=[pytest.mark.slow] if case[0] in SLOW_CASES else [])
    for case in CASES
]


@pytest.mark.parametrize(("case", "env", "needles"), PARAMS)
def test_bad_configuration_is_one_line_and_exit_2(tmp_path, mlflow_uri, case, env, needles):
    _assert_refused(_start({"MLFLOW_TRACKING_URI": mlflow_uri, **env}, tmp_path), *needles)


def test_ab_arm_alias_missing_from_the_registry_refuses_to_start(tmp_path, mlflow_uri, models):
    """Bug: AB_ARMS naming an alias the registry lacks (a typo: v3) started fine and then answered
    503 for that arm's share of /api/ab traffic. Now start-up refuses, naming the alias."""
    proc = _start({"MLFLOW_TRACKING_URI": mlflow_uri, "AB_ARMS": "v1:0.5,v3:0.5"}, tmp_path)
    _assert_refused(proc, "'v3'", "AB_ARMS")


def test_good_configuration_starts(tmp_path, mlflow_uri, models):
    proc = _start({"MLFLOW_TRACKING_URI": mlflow_uri, "AB_ARMS": "v1:0.2,v2:0.8"}, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_empty_or_unreachable_registry_does_not_block_start(tmp_path):
    """`flask models bootstrap` loads the app before any model exists, and a registry that is down
    at start-up is reported by /health/ready: neither may stop the process from starting."""
    empty = f"sqlite:///{tmp_path / 'empty' / 'mlflow.db'}"
    assert _start({"MLFLOW_TRACKING_URI": empty, "AB_ARMS": "v1:1,v7:1"}, tmp_path).returncode == 0
    down = _start(
        {
            "MLFLOW_TRACKING_URI": "http://127.0.0.1:1",
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": "2",
        },
        tmp_path,
    )
    assert down.returncode == 0, down.stderr[-3000:]
    assert "cannot check the AB_ARMS aliases" in down.stderr
