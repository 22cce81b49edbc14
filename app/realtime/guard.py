"""Open Socket.IO sessions follow the account: re-checked on every admin emit, closed when the
session or the account's tokens are revoked.

The client manager is where every emit is delivered to this process's own sockets, also the ones
that arrive through the Redis message queue from other workers. There:

- an emit to the ``admins`` room first re-checks each local admin socket's token against the
  stored user (active, same stamp, still an admin, session not revoked); a socket that fails is
  disconnected and gets nothing;
- the internal ``REVOKE_EVENT`` to a user's or a login session's room disconnects that room's
  local sockets and is never sent to a client. ``disconnect_user``/``disconnect_session`` emit it,
  so with a message queue every worker closes its own sockets.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Flask
from socketio import Manager, RedisManager

from app.extensions import socketio
from app.realtime.rooms import ADMINS_ROOM, NAMESPACE, user_room

log = logging.getLogger(__name__)

REVOKE_EVENT = "__digitserve_revoke__"

# sid -> decoded claims of the token the socket connected with (this process's sockets only).
_claims: dict[str, dict[str, Any]] = {}
_claims_lock = threading.Lock()


def session_room(sid: str) -> str:
    return f"session:{sid}"


def remember(socket_sid: str, claims: dict[str, Any]) -> None:
    with _claims_lock:
        _claims[socket_sid] = claims


def forget(socket_sid: str) -> None:
    with _claims_lock:
        _claims.pop(socket_sid, None)


class CheckedManager(Manager):
    """In-process client manager with the checks above (also the base of the Redis one)."""

    app: Flask | None = None

    def emit(self, event, data, namespace, room=None, skip_sid=None, callback=None, to=None, **kwargs):  # noqa: ANN001, ANN201 - python-socketio's signature
        room = to or room
        if event == REVOKE_EVENT:
            self._disconnect_room(namespace, room, data)
            return None
        if room == ADMINS_ROOM and self.app is not None:
            members = list(self.get_participants(namespace, room))
            refused = [sid for sid, _eio in members if not self._admin_ok(sid)]
            for sid in refused:
                self._close(sid, namespace, "no longer an active admin session")
            if refused:
                skip = skip_sid if isinstance(skip_sid, list) else ([skip_sid] if skip_sid else [])
                skip_sid = skip + refused
        return super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs)

    def _admin_ok(self, socket_sid: str) -> bool:
        # In the function: app.auth.services imports this module (disconnect_user).
        from app.auth.services import claims_revoked
        from app.auth.tokens import user_for_claims

        claims = _claims.get(socket_sid)
        if claims is None:
            return False
        try:
            with self.app.app_context():  # type: ignore[union-attr]
                user = user_for_claims(claims)
                return user is not None and user.role == "admin" and not claims_revoked(claims)
        except Exception as exc:  # noqa: BLE001 - cannot check (DB/Redis down): fail closed
            log.warning("admin socket re-check failed: %s: %s", type(exc).__name__, exc)
            return False

    def _disconnect_room(self, namespace: str, room: str | None, data: Any) -> None:
        if room is None:
            return  # never "everyone"
        reason = data.get("reason", "revoked") if isinstance(data, dict) else "revoked"
        for sid, _eio in list(self.get_participants(namespace, room)):
            self._close(sid, namespace, reason)

    def _close(self, socket_sid: str, namespace: str, reason: str) -> None:
        log.info("closing socket %s: %s", socket_sid, reason)
        forget(socket_sid)
        try:
            # ignore_queue: this socket is ours; the other workers handle theirs.
            self.server.disconnect(socket_sid, namespace=namespace, ignore_queue=True)
        except Exception as exc:  # noqa: BLE001 - already gone
            log.debug("socket %s already closed: %s", socket_sid, exc)


class CheckedRedisManager(RedisManager, CheckedManager):
    """Redis message queue; what arrives from the queue is delivered by CheckedManager.emit."""


def client_manager(app: Flask, redis_url: str | None, channel: str) -> Manager:
    manager = CheckedRedisManager(redis_url, channel=channel) if redis_url else CheckedManager()
    manager.app = app
    return manager


def _revoke(room: str, reason: str) -> None:
    try:
        socketio.emit(REVOKE_EVENT, {"reason": reason}, to=room, namespace=NAMESPACE)
    except Exception as exc:  # noqa: BLE001 - the admin re-check still closes admin sockets
        log.warning("could not publish socket revocation for %s: %s", room, exc)


def disconnect_user(user_id: int | str, reason: str) -> None:
    """Close every open socket of the user, on every worker."""
    _revoke(user_room(user_id), reason)


def disconnect_session(session_id: str, reason: str) -> None:
    """Close the sockets opened with the tokens of one login session, on every worker."""
    _revoke(session_room(session_id), reason)
