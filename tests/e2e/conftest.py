"""Fixtures for the browser tests: a real headless Chromium (Debian's package, driven by Playwright)
against the real app served on a loopback port from a background thread.

Chromium is the system one (/usr/bin/chromium, installed by `make browser`); Playwright's own
browser download is never used. Each test gets a fresh browser context (no shared storage) and a
fresh app (own limiter namespace, tables emptied afterwards by `make_app`).
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from app.ml import registry, tracking

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium phones home at start, which this closed
# network refuses; --headless etc. keep it usable as root in a container without a display.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
RETRAIN_LIMIT = 500
# Generous limits: the browser makes many API calls; the rate-limit tests live elsewhere.
HIGH_LIMITS = {
    "RATELIMIT_DEFAULT": "10000 per hour",
    "PREDICT_V1_LIMIT": "10000 per day",
    "PREDICT_V2_LIMIT": "10000 per day",
    "LOGIN_RATE_LIMIT": "1000 per minute",
    "LOGIN_ACCOUNT_RATE_LIMIT": "1000 per minute",
}


# Playwright's `expect` waits 5 s by default (set_default_timeout covers actions only): too tight
# for a page that signs in, loads four admin APIs and connects Socket.IO on a busy 2-core machine.
EXPECT_TIMEOUT_MS = 15_000


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium package")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
        yield chromium
        chromium.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Flask], str]]:
    """serve(app) -> base URL of a threaded werkzeug server (HTTP, long-polling and WebSocket);
    `app` is the Flask app or any WSGI callable wrapping it."""
    servers: list[tuple[object, threading.Thread]] = []

    def start(app: Flask) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="e2e-server", daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server, thread in servers:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@dataclass
class Tab:
    """A page plus what it saw: uncaught errors, CSP violations, WebSockets and their frames."""

    page: object
    errors: list[str] = field(default_factory=list)
    sockets: list[object] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return list(self.errors)


@pytest.fixture
def new_tab(browser: object, serve: Callable[[Flask], str]) -> Iterator[Callable[[], Tab]]:
    """new_tab() -> a Tab in its own browser context (own sessionStorage), closed after the test.

    Depends on `serve` so that the pages close before the servers stop.
    """
    contexts: list[object] = []

    def factory() -> Tab:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        context.set_default_timeout(EXPECT_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        tab = Tab(page)
        page.on("pageerror", lambda exc: tab.errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: (
                tab.errors.append(f"console: {msg.text}")
                if "Content Security Policy" in msg.text or "Refused to" in msg.text
                else None
            ),
        )

        def on_socket(ws: object) -> None:
            tab.sockets.append(ws)
            ws.on("framereceived", lambda payload: tab.frames.append(str(payload)))

        page.on("websocket", on_socket)
        return tab

    yield factory
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def add_user() -> Callable[..., dict]:
    """add_user(app, role="user") -> {"username", "password", "id"}, created directly in the DB."""

    def create(app: Flask, role: str = "user") -> dict:
        from app.auth.services import create_user

        username = f"{role}-{uuid.uuid4().hex[:8]}"
        password = "e2e-password-123"
        with app.app_context():
            user = create_user(username, password, role=role)
            return {"id": user.id, "username": username, "password": password, "role": role}

    return create


@pytest.fixture
def web_app(make_app: Callable[..., Flask], models: dict) -> Flask:
    """The app on the session's registry (v1 and v2 trained on the full data)."""
    return make_app(**HIGH_LIMITS)


@pytest.fixture(scope="module")
def retrain_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("e2e-retrain-template")
    tracking.bootstrap(registry.default_tracking_uri(base), limit=RETRAIN_LIMIT, log=lambda _m: None)
    return base


@pytest.fixture
def retrain_app(make_app: Callable[..., Flask], retrain_template: Path, tmp_path: Path) -> Flask:
    """An app on a private copy of a small registry: quick retrains whose promotion moves no shared alias."""
    (tmp_path / "mlruns").mkdir()
    shutil.copy(retrain_template / "mlruns" / "mlflow.db", tmp_path / "mlruns" / "mlflow.db")
    return make_app(
        MLFLOW_TRACKING_URI=registry.default_tracking_uri(tmp_path),
        RETRAIN_DATA_LIMIT=RETRAIN_LIMIT,
        RETRAIN_PROMOTION_MARGIN=-0.05,
        **HIGH_LIMITS,
    )
