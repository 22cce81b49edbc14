"""Issue 13, item 5: an open Socket.IO session follows its account. Logout, "log out everywhere",
demotion and deactivation close it (through the message queue on the Redis pass), and every emit
to the admin room re-checks each admin socket, so a change made behind the API's back (straight
in the database) stops the events too."""

from __future__ import annotations

import time

import pytest
from flask import Flask

from app.auth.models import User
from app.extensions import db
from app.realtime import notify_feedback_received
from tests.factories import bearer
from tests.polling import poll
from tests.test_realtime import (  # noqa: F401 - fixtures used by name
    WAIT,
    Listener,
    _marker,
    listen,
    live_url,
    sync,
)


def _closed(listener: Listener) -> None:
    poll(lambda: listener.sio.connected, lambda up: not up, timeout=WAIT)


def _gets_nothing(listener: Listener) -> None:
    marker = _marker()
    notify_feedback_received({"feedback_id": marker, "user_id": 1, "label": 3})
    with pytest.raises(AssertionError):
        listener.wait_for("feedback_received", marker, timeout=1.0)


@pytest.fixture
def admin_socket(make_user, login, listen):  # noqa: F811 - pytest fixture by name
    def open_one() -> tuple[dict, dict, Listener]:
        admin = make_user(role="admin")
        tokens = login(admin)
        listener = listen(tokens["access_token"], transport="websocket")
        sync(listener, admin["id"])
        marker = _marker()
        notify_feedback_received({"feedback_id": marker})
        listener.wait_for("feedback_received", marker)  # it is an admin socket, receiving
        return admin, tokens, listener

    return open_one


def test_logout_closes_the_sessions_socket(client, admin_socket) -> None:
    _admin, tokens, listener = admin_socket()
    assert client.post("/auth/logout", headers=bearer(tokens["access_token"])).status_code == 200
    _closed(listener)


def test_log_out_everywhere_closes_every_socket_of_the_account(
    client,
    admin_socket,
    login,
    listen,  # noqa: F811 - the fixture
):
    admin, tokens, first = admin_socket()
    second = listen(login(admin)["access_token"])
    sync(second, admin["id"])
    assert client.post("/auth/logout-all", headers=bearer(tokens["access_token"])).status_code == 200
    _closed(first)
    _closed(second)


@pytest.mark.parametrize("change", [{"role": "user"}, {"active": False}])
def test_demotion_or_deactivation_through_the_api_closes_the_socket(
    client, admin_socket, admin_headers, change
):
    target, _tokens, listener = admin_socket()
    resp = client.patch(f"/admin/users/{target['id']}", headers=admin_headers, json=change)
    assert resp.status_code == 200, resp.get_json()
    _closed(listener)


@pytest.mark.parametrize("change", ["demote", "disable"])
def test_admin_room_emits_recheck_the_role_even_after_a_database_change(app: Flask, admin_socket, change):
    target, _tokens, listener = admin_socket()
    with app.app_context():
        user = db.session.get(User, target["id"])
        if change == "demote":
            user.role = "user"
        else:
            user.active = False
        db.session.commit()
    _gets_nothing(listener)
    _closed(listener)


def test_a_revoked_session_gets_no_admin_events_even_if_the_close_was_missed(app: Flask, admin_socket):
    """The revocation is stored first; the re-check on the next admin emit catches a socket whose
    close message was lost (e.g. Redis hiccup)."""
    from app.auth.services import revoke_token
    from app.auth.tokens import session_expiry, session_key

    target, tokens, listener = admin_socket()
    from flask_jwt_extended import decode_token

    with app.app_context():
        claims = decode_token(tokens["access_token"])
        revoke_token(session_key(claims["sid"]), "session", target["id"], session_expiry())
    started = time.monotonic()
    _gets_nothing(listener)
    _closed(listener)
    assert time.monotonic() - started < WAIT
