"""Socket.IO notifications, exercised with the real python-socketio client against a live server.

The app runs on a threaded werkzeug server in a background thread (async_mode="threading" serves
WebSocket through simple-websocket there). On that dev server a client's orderly disconnect can
race the server's close and then wait out a timeout (3 s for WebSocket, the 25 s ping interval
for a pending long-poll), so clients use long-polling except where the test is about WebSocket
and are closed with abort=True. Every payload carries a unique marker so that events from other
tests (or, on a shared Redis, other processes) cannot be mistaken for ours.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import socketio
from flask import Flask
from flask_jwt_extended import create_access_token
from werkzeug.serving import make_server

from app.auth.models import User
from app.extensions import db
from app.extensions import socketio as app_socketio
from app.realtime import (
    notify_feedback_received,
    notify_model_promoted,
    notify_prediction_done,
    notify_retrain_finished,
    notify_retrain_progress,
    user_room,
)

WAIT = 10.0  # upper bound for any single expected event; normally milliseconds
EVENTS = ("feedback_received", "retrain_progress", "retrain_finished", "model_promoted", "prediction_done")
ADMIN_EVENTS = {"feedback_received", "retrain_progress", "retrain_finished"}
SYNC = "test_sync"


class Listener:
    """A real Socket.IO client that records every event it receives, in order."""

    def __init__(self) -> None:
        self.sio = socketio.Client(reconnection=False)
        self.inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.seen: list[tuple[str, Any]] = []
        self.connect_errors: list[Any] = []
        self.refused = threading.Event()
        for name in (*EVENTS, SYNC):
            self.sio.on(name, handler=lambda data=None, _n=name: self.inbox.put((_n, data)))
        self.sio.on("connect_error", handler=self._on_connect_error)

    def _on_connect_error(self, data: Any = None) -> None:
        self.connect_errors.append(data)
        self.refused.set()

    def connect(
        self,
        base_url: str,
        token: str | None = None,
        via: str = "auth",
        transport: str = "polling",
        wait: bool = True,
    ) -> None:
        url, auth = base_url, None
        if token is not None and via == "auth":
            auth = {"token": token}
        elif token is not None:
            url = f"{base_url}?token={token}"
        self.sio.connect(url, auth=auth, transports=[transport], wait=wait, wait_timeout=WAIT)

    def close(self) -> None:
        self.sio.eio.disconnect(abort=True)

    def _drain(self, timeout: float) -> tuple[str, Any] | None:
        try:
            item = self.inbox.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None
        self.seen.append(item)
        return item

    def wait_for(self, event: str, marker: str, timeout: float = WAIT) -> Any:
        """The payload of the first `event` carrying `marker`; fails after `timeout`."""
        for name, data in self.seen:
            if name == event and _marked(data, marker):
                return data
        deadline = time.monotonic() + timeout
        while (item := self._drain(deadline - time.monotonic())) is not None:
            if item[0] == event and _marked(item[1], marker):
                return item[1]
        raise AssertionError(f"no {event!r} with marker {marker} within {timeout}s; saw {self.seen}")

    def received(self, event: str, marker: str) -> bool:
        return any(name == event and _marked(data, marker) for name, data in self.seen)

    def events(self) -> set[str]:
        return {name for name, _ in self.seen}


def _marked(data: Any, marker: str) -> bool:
    return isinstance(data, dict) and marker in {str(v) for v in data.values()}


def _marker() -> str:
    return uuid.uuid4().hex


def sync(listener: Listener, user_id: int) -> None:
    """Emit to the client's own room until it arrives: on the Redis pass the server subscribes to the
    queue in a thread started at its first connection, so the first emits could precede it.
    Afterwards, in-order delivery makes a later event to this client a barrier for earlier ones."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        marker = _marker()
        app_socketio.emit(SYNC, {"marker": marker}, to=user_room(user_id), namespace="/")
        try:
            listener.wait_for(SYNC, marker, timeout=0.5)
            return
        except AssertionError:
            continue
    raise AssertionError("the socket never received a sync event")


@pytest.fixture
def live_url(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=WAIT)
    server.server_close()


@pytest.fixture
def listen(live_url: str) -> Iterator[Callable[..., Listener]]:
    """listen(token, via="auth"|"query", transport=...) -> a connected Listener, disconnected after."""
    listeners: list[Listener] = []

    def factory(token: str | None = None, via: str = "auth", transport: str = "polling") -> Listener:
        listener = Listener()
        listeners.append(listener)
        listener.connect(live_url, token, via, transport)
        return listener

    yield factory
    for listener in listeners:
        listener.close()


@pytest.fixture
def connect_user(make_user, login, listen) -> Callable[..., tuple[dict, Listener]]:
    def factory(role: str = "user") -> tuple[dict, Listener]:
        user = make_user(role=role)
        listener = listen(login(user)["access_token"])
        sync(listener, user["id"])
        return user, listener

    return factory


@pytest.fixture
def refused(live_url: str) -> Callable[..., str]:
    def check(token: str | None, via: str = "auth", transport: str = "polling") -> str:
        listener = Listener()
        # wait=False: on refusal, connect(wait=True) makes an orderly disconnect (see module doc).
        listener.connect(live_url, token, via, transport, wait=False)
        try:
            assert listener.refused.wait(WAIT), "the client got no connect_error"
            assert listener.sio.failed_namespaces == ["/"]
            assert "/" not in listener.sio.namespaces
        finally:
            listener.close()
        return listener.connect_errors[-1]["message"]

    return check


# --- connection -------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_connect_refused_without_token(refused, transport: str) -> None:
    assert "Authentication required" in refused(None, transport=transport)


@pytest.mark.parametrize("token", ["garbage", "a.b.c", ""])
def test_connect_refused_with_garbage_token(refused, token: str) -> None:
    reason = refused(token)
    assert "Invalid token" in reason or "Authentication required" in reason


def test_connect_refused_with_token_signed_by_another_key(app: Flask, make_user, refused) -> None:
    user = make_user()
    other = Flask("other")
    other.config.update(JWT_SECRET_KEY="some-other-secret-0123456789abcdef")
    from flask_jwt_extended import JWTManager

    JWTManager(other)
    with other.app_context():
        forged = create_access_token(identity=str(user["id"]))
    assert refused(forged) == "Invalid token."


def test_connect_refused_with_expired_token(app: Flask, make_user, refused) -> None:
    user = make_user()
    with app.app_context():
        token = create_access_token(identity=str(user["id"]), expires_delta=timedelta(seconds=-30))
    assert refused(token) == "Token has expired."


def test_connect_refused_with_revoked_token(client, make_user, login, refused) -> None:
    tokens = login(make_user())
    resp = client.post("/auth/logout", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert resp.status_code == 200
    assert refused(tokens["access_token"]) == "Token has been revoked."


def test_connect_refused_with_refresh_token(make_user, login, refused) -> None:
    tokens = login(make_user())
    assert refused(tokens["refresh_token"]) == "An access token is required."


def test_connect_refused_for_deleted_or_inactive_user(app: Flask, make_user, login, refused) -> None:
    gone, inactive = make_user(), make_user()
    gone_token = login(gone)["access_token"]
    inactive_token = login(inactive)["access_token"]
    with app.app_context():
        db.session.delete(db.session.get(User, gone["id"]))
        db.session.get(User, inactive["id"]).active = False
        db.session.commit()
    assert "does not exist or is disabled" in refused(gone_token)
    assert "does not exist or is disabled" in refused(inactive_token)


def test_user_connects_with_auth_or_query_token(make_user, login, listen) -> None:
    user = make_user()
    token = login(user)["access_token"]
    by_auth = listen(token, transport="websocket")
    by_query = listen(token, via="query")
    assert by_auth.sio.connected and by_query.sio.connected
    # Both joined the user's room.
    marker = _marker()
    notify_prediction_done(user["id"], {"marker": marker})
    by_auth.wait_for("prediction_done", marker)
    by_query.wait_for("prediction_done", marker)


def test_role_comes_from_database_not_token(app: Flask, make_user, login, listen) -> None:
    # Token issued while a user; promoted to admin in the DB afterwards: the connection is an admin's.
    user = make_user()
    token = login(user)["access_token"]
    with app.app_context():
        db.session.get(User, user["id"]).role = "admin"
        db.session.commit()
    listener = listen(token)
    sync(listener, user["id"])
    marker = _marker()
    assert notify_retrain_progress(marker, 0.5, "training") is True
    expected = {"job_id": marker, "progress": 0.5, "step": "training"}
    assert listener.wait_for("retrain_progress", marker) == expected


# --- events -----------------------------------------------------------------------------------


def test_admin_receives_feedback_from_background_thread(connect_user) -> None:
    _, admin = connect_user("admin")
    marker = _marker()
    payload = {
        "prediction_id": 41,
        "version": "3",
        "correct": False,
        "label": 7,
        "user_id": 5,
        "feedback_id": marker,
    }
    results: list[bool] = []
    # No app or request context in this thread, as in the retrain worker.
    thread = threading.Thread(target=lambda: results.append(notify_feedback_received(payload)))
    thread.start()
    thread.join(timeout=WAIT)
    assert results == [True]
    assert admin.wait_for("feedback_received", marker) == payload


def test_user_does_not_receive_admin_events(connect_user) -> None:
    user, listener = connect_user("user")
    _, admin = connect_user("admin")
    marker = _marker()
    finished = {"id": marker, "status": "succeeded", "finished_at": datetime(2024, 5, 1, 12, 0, tzinfo=UTC)}
    notify_feedback_received({"feedback_id": marker, "correct": True})
    notify_retrain_progress(marker, 0.25, "loading data")
    notify_retrain_finished(finished)
    # The admin gets all three; datetimes in the job dict arrive as ISO strings.
    admin.wait_for("feedback_received", marker)
    admin.wait_for("retrain_progress", marker)
    assert admin.wait_for("retrain_finished", marker)["finished_at"] == "2024-05-01T12:00:00+00:00"
    # Sent after the admin events on the same path: once it arrives, they would have too.
    barrier = _marker()
    notify_prediction_done(user["id"], {"marker": barrier})
    listener.wait_for("prediction_done", barrier)
    assert not listener.events() & ADMIN_EVENTS, listener.seen


def test_model_promoted_reaches_every_user(connect_user) -> None:
    _, first = connect_user("user")
    _, second = connect_user("user")
    _, admin = connect_user("admin")
    alias = f"champion-{_marker()}"
    assert notify_model_promoted(alias, 4) is True
    for listener in (first, second, admin):
        assert listener.wait_for("model_promoted", alias) == {"alias": alias, "version": 4}


def test_prediction_done_reaches_only_that_user(connect_user) -> None:
    owner, owner_socket = connect_user("user")
    _, other_socket = connect_user("user")
    _, admin = connect_user("admin")
    marker = _marker()
    assert notify_prediction_done(owner["id"], {"prediction_id": marker, "digit": 3}) is True
    assert owner_socket.wait_for("prediction_done", marker) == {"prediction_id": marker, "digit": 3}
    barrier = _marker()
    notify_model_promoted(barrier, 1)
    for listener in (other_socket, admin):
        listener.wait_for("model_promoted", barrier)
        assert not listener.received("prediction_done", marker)


def test_emit_failure_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    circular: dict[str, Any] = {}
    circular["self"] = circular
    with caplog.at_level(logging.WARNING, logger="app.realtime"):
        assert notify_prediction_done(1, circular) is False
    assert "prediction_done" in caplog.text


@pytest.mark.redis
def test_emit_from_separate_write_only_process_reaches_client(app: Flask, connect_user) -> None:
    from flask_socketio import SocketIO

    user, listener = connect_user("user")
    # What another process (a gunicorn worker, the retrain job) does: no app, just the queue.
    external = SocketIO(
        message_queue=os.environ["REDIS_URL"], channel=f"{app.config['KEY_NAMESPACE']}-socketio"
    )
    marker = _marker()
    external.emit("prediction_done", {"marker": marker}, to=user_room(user["id"]), namespace="/")
    assert listener.wait_for("prediction_done", marker) == {"marker": marker}


# --- end-to-end flows: real HTTP requests and a real retrain emit the events -----------------------


@pytest.mark.usefixtures("models")
def test_admin_receives_feedback_received_after_a_user_posts_feedback(client, make_user, login, connect_user):

    from tests.factories import holdout_digit, mnist_as_photo, post_predict

    _admin, admin_listener = connect_user("admin")
    user = make_user()
    headers = {"Authorization": f"Bearer {login(user)['access_token']}"}
    pred = post_predict(client, headers, mnist_as_photo(holdout_digit(7)[0])).get_json()
    wrong = (pred["prediction"] + 1) % 10
    fb = client.post(
        "/feedback",
        headers=headers,
        json={"prediction_id": pred["prediction_id"], "correct": False, "label": wrong},
    )
    assert fb.status_code == 201
    event = admin_listener.wait_for("feedback_received", str(fb.get_json()["id"]))
    assert event["prediction_id"] == pred["prediction_id"]
    assert event["version"] == pred["model_version"]
    assert event["correct"] is False and event["label"] == wrong


def test_admin_sees_retrain_progress_then_finished_for_a_real_retrain(make_app, store_uri):
    from app.auth.services import create_user
    from tests.conftest import TEMPLATE_LIMIT
    from tests.factories import correct_mistakes

    app = make_app(
        MLFLOW_TRACKING_URI=store_uri, RETRAIN_DATA_LIMIT=TEMPLATE_LIMIT, RETRAIN_PROMOTION_MARGIN=-0.05
    )
    with app.app_context():
        admin = create_user("watcher", "watcher-pass-1", role="admin")
        admin_id = admin.id
    client = app.test_client()
    token = client.post("/login", json={"username": "watcher", "password": "watcher-pass-1"}).get_json()[
        "access_token"
    ]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    listener = Listener()
    try:
        listener.connect(f"http://127.0.0.1:{server.server_port}", token)
        sync(listener, admin_id)
        # Feedback on v1's mistakes, so the candidate is strictly better (ties never promote).
        correct_mistakes(client, {"Authorization": f"Bearer {token}"}, "v1")
        resp = client.post(
            "/admin/retrain", headers={"Authorization": f"Bearer {token}"}, json={"base": "v1"}
        )
        assert resp.status_code == 202
        job_id = str(resp.get_json()["job_id"])
        finished = listener.wait_for("retrain_finished", job_id, timeout=120)
        progress = [d for n, d in listener.seen if n == "retrain_progress" and str(d.get("job_id")) == job_id]
        assert len(progress) >= 3
        values = [p["progress"] for p in progress]
        assert values == sorted(values) and values[-1] == 100
        order = [n for n, d in listener.seen if isinstance(d, dict) and str(d.get("job_id")) == job_id]
        assert order.index("retrain_finished") > max(
            i for i, n in enumerate(order) if n == "retrain_progress"
        )
        assert finished["status"] == "succeeded" and finished["registered_version"]
        listener.wait_for("model_promoted", str(finished["registered_version"]))
    finally:
        listener.close()
        server.shutdown()
        thread.join(timeout=WAIT)
        server.server_close()
