"""Socket.IO push notifications: JWT-authenticated connections, rooms per user and for admins.

Rooms: every user joins ``user:<id>``; admins also join ``admins``. The ``notify_*`` helpers work
from request handlers and from background threads (no request or app context needed). With
REDIS_URL set, socketio uses Redis as message queue, so an emit from any process or worker
reaches every connected client.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import Flask, current_app, request
from flask_jwt_extended import decode_token
from flask_socketio import join_room
from jwt import ExpiredSignatureError

# python-socketio's exception, not the builtin of the same name: only this one carries the reason
# to the client's connect_error (the builtin one yields a generic "Connection refused by server").
from socketio.exceptions import ConnectionRefusedError as ConnectionRefused

from app.extensions import socketio
from app.realtime.connections import SocketGuard
from app.realtime.guard import forget, remember, session_room
from app.realtime.rooms import ADMINS_ROOM, NAMESPACE, user_room
from app.state import set_socket_guard, socket_guard

log = logging.getLogger(__name__)

def init_realtime(app: Flask) -> None:
    """Register connect/disconnect handlers; call after socketio.init_app(app).

    Flask-SocketIO makes a new server per init_app and, once a server exists, registers handlers
    on that server only, so this must run for every app (tests create many).
    """
    if socketio.server is None:
        raise RuntimeError("init_realtime() needs socketio.init_app(app) to have run first")
    socketio.on_event("connect", _on_connect, namespace=NAMESPACE)
    socketio.on_event("disconnect", _on_disconnect, namespace=NAMESPACE)
    guard = SocketGuard(
        socketio.server,
        max_per_address=app.config["SOCKET_MAX_PER_ADDRESS"],
        auth_timeout=app.config["SOCKET_AUTH_TIMEOUT"],
        proxy_count=app.config["PROXY_COUNT"],
    )
    set_socket_guard(app, guard)


def _token_from(auth: Any) -> str | None:
    if isinstance(auth, dict) and isinstance(auth.get("token"), str) and auth["token"]:
        return auth["token"]
    return request.args.get("token") or None


def _authenticate(auth: Any) -> tuple[Any, dict]:
    """(active user, claims) for the handshake's access token; raises ConnectionRefused otherwise."""
    # In the function: app.auth imports app.realtime.guard, which runs this package first.
    from app.auth.services import claims_revoked
    from app.auth.tokens import user_for_claims

    token = _token_from(auth)
    if not token:
        raise ConnectionRefused("Authentication required: pass auth={'token': <access token>}.")
    try:
        claims = decode_token(token)
    except ExpiredSignatureError:
        raise ConnectionRefused("Token has expired.") from None
    except Exception:  # noqa: BLE001 - any decode failure means the token is unusable
        raise ConnectionRefused("Invalid token.") from None
    if claims.get("type") != "access":
        raise ConnectionRefused("An access token is required.")
    if claims_revoked(claims):
        raise ConnectionRefused("Token has been revoked.")
    # The role comes from the users table now, never from a claim; the stamp must still match.
    user = user_for_claims(claims)
    if user is None:
        raise ConnectionRefused("The token's user does not exist or is disabled.")
    return user, claims


def _guard() -> SocketGuard | None:
    return socket_guard()


def _on_connect(auth: Any = None) -> None:
    guard = _guard()
    try:
        user, claims = _authenticate(auth)
    except ConnectionRefused:
        if guard is not None:
            guard.refused(request.sid, NAMESPACE)  # a refused socket must not stay open
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. the DB or Redis is down: refuse, don't crash
        # Also keeps a TypeError from making Flask-SocketIO retry the handler without `auth`.
        log.warning("socket connect refused: %s: %s", type(exc).__name__, exc)
        if guard is not None:
            guard.refused(request.sid, NAMESPACE)
        raise ConnectionRefused("Authentication is temporarily unavailable.") from None
    if guard is not None:
        guard.authenticated(request.sid, NAMESPACE)
    # In the function: app.retrain's views reach app.predict.http, which imports this package.
    from app.retrain import relay

    relay.ensure_started(current_app._get_current_object())
    join_room(user_room(user.id))
    if isinstance(claims.get("sid"), str):
        join_room(session_room(claims["sid"]))
    remember(request.sid, claims)
    if user.role == "admin":
        join_room(ADMINS_ROOM)
    log.debug("socket %s connected as user %s (%s)", request.sid, user.id, user.role)


def _on_disconnect(*_args: Any) -> None:
    # Rooms are left automatically; python-socketio 5.12+ passes a disconnect reason.
    forget(request.sid)
    log.debug("socket %s disconnected", getattr(request, "sid", "?"))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def _emit(event: str, payload: Any, to: str | None = None) -> bool:
    """Emit, logging instead of raising: a lost notification must not fail a prediction or retrain."""
    try:
        # Round-trip through json so datetimes etc. in job dicts cannot break the encoder (or the
        # Redis queue's json) later, after the caller has moved on.
        data = json.loads(json.dumps(payload, default=_json_default))
        socketio.emit(event, data, to=to, namespace=NAMESPACE)
        return True
    except Exception as exc:  # noqa: BLE001 - see docstring
        log.warning("socket emit %r to %s failed: %s: %s", event, to or "all", type(exc).__name__, exc)
        return False


def notify_feedback_received(payload: dict[str, Any]) -> bool:
    """`feedback_received` to admins. Payload: prediction_id, version, correct, label, user_id,
    feedback_id. Returns False (and logs) if the emit failed."""
    return _emit("feedback_received", payload, to=ADMINS_ROOM)


def notify_retrain_progress(job_id: int | str, progress: float, step: str) -> bool:
    """`retrain_progress` {job_id, progress, step} to admins."""
    return _emit("retrain_progress", {"job_id": job_id, "progress": progress, "step": step}, to=ADMINS_ROOM)


def notify_retrain_finished(job: dict[str, Any]) -> bool:
    """`retrain_finished` with the job's dict to admins."""
    return _emit("retrain_finished", job, to=ADMINS_ROOM)


def notify_model_promoted(alias: str, version: int | str) -> bool:
    """`model_promoted` {alias, version} to every connected client."""
    return _emit("model_promoted", {"alias": alias, "version": version})


def notify_prediction_done(user_id: int | str, payload: dict[str, Any]) -> bool:
    """`prediction_done` to that user's sockets only."""
    return _emit("prediction_done", payload, to=user_room(user_id))


__all__ = [
    "ADMINS_ROOM",
    "init_realtime",
    "notify_feedback_received",
    "notify_model_promoted",
    "notify_prediction_done",
    "notify_retrain_finished",
    "notify_retrain_progress",
    "user_room",
]
