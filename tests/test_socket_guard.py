"""The Socket.IO guard (app/realtime/connections.py), attacked with raw Engine.IO WebSockets.

Each attack opens real WebSocket connections to a live server and checks what the server does
with them: a refused namespace connect is closed, an unauthenticated connection is closed after
the deadline, and one address cannot hold more than its share of connections.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import websocket
from flask import Flask
from werkzeug.serving import make_server

from app.state import socket_guard

WAIT = 15.0


@pytest.fixture
def serve() -> Iterator[Callable[[Flask], str]]:
    servers = []

    def start(app: Flask) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"ws://127.0.0.1:{server.server_port}/socket.io/?EIO=4&transport=websocket"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _open(url: str) -> websocket.WebSocket:
    ws = websocket.create_connection(url, timeout=WAIT)
    assert ws.recv().startswith("0{")  # Engine.IO open packet
    return ws


def _closed_within(ws: websocket.WebSocket, seconds: float) -> bool:
    """True if the server closes the connection within `seconds` (pings answered meanwhile)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ws.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            frame = ws.recv()
        except websocket.WebSocketTimeoutException:
            return False
        except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
            return True
        if frame == "2":
            ws.send("3")
        elif frame == "" or frame is None:
            return True
    return False


def test_refused_namespace_connect_closes_the_socket(make_app, serve) -> None:
    url = serve(make_app(SOCKET_AUTH_TIMEOUT=600))
    ws = _open(url)
    ws.send('40{"token": "not-a-jwt"}')
    assert ws.recv().startswith("44")  # CONNECT_ERROR first, so the client learns why
    assert _closed_within(ws, WAIT)


def test_unauthenticated_socket_is_closed_after_the_deadline(make_app, serve) -> None:
    app = make_app(SOCKET_AUTH_TIMEOUT=1)
    url = serve(app)
    ws = _open(url)  # never sends a namespace connect
    assert _closed_within(ws, WAIT)
    guard = socket_guard(app)
    deadline = time.monotonic() + WAIT
    while guard.open_count() and time.monotonic() < deadline:
        time.sleep(0.05)  # poll interval of a bounded wait
    assert guard.open_count() == 0


def test_authenticated_socket_stays_past_the_deadline(make_app, serve, make_user) -> None:
    from flask_jwt_extended import create_access_token

    app = make_app(SOCKET_AUTH_TIMEOUT=0.5)
    url = serve(app)
    user = make_user()
    with app.app_context():
        token = create_access_token(identity=str(user["id"]))
    ws = _open(url)
    ws.send("40" + json.dumps({"token": token}))
    assert ws.recv().startswith("40")  # connected
    assert not _closed_within(ws, 2.0)  # four deadlines later, still open
    ws.close()


def test_per_address_cap_refuses_extra_sockets(make_app, serve) -> None:
    app = make_app(SOCKET_MAX_PER_ADDRESS=3, SOCKET_AUTH_TIMEOUT=600)
    url = serve(app)
    held = [_open(url) for _ in range(3)]
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(url, timeout=WAIT)
    held.pop().close()
    deadline = time.monotonic() + WAIT
    while socket_guard(app).open_count() > 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # poll interval of a bounded wait
    held.append(_open(url))  # a slot freed by a close is usable again
    for ws in held:
        ws.close()
