"""Limits on open Socket.IO connections: per-address cap, authentication deadline, refused = closed.

An Engine.IO connection costs nothing until a client authenticates its namespace connect, so
without these limits anyone could hold sockets open for ever. The guard sits between Engine.IO
and python-socketio (it wraps their connect/disconnect hooks):

- more than ``max_per_address`` open connections from one address: the next is refused;
- a connection that has not completed an authenticated namespace connect within
  ``auth_timeout`` seconds is closed (idle unauthenticated sockets);
- a refused namespace connect closes the connection right after the error packet is sent.

Counts are per process (gunicorn worker); one reaper task per process closes the expired ones.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

# Time for the CONNECT_ERROR packet to reach the client before the socket is closed.
REFUSED_GRACE_S = 0.3
REAP_INTERVAL_S = 0.25


class SocketGuard:
    def __init__(self, server: Any, max_per_address: int, auth_timeout: float, proxy_count: int = 0) -> None:
        self.server = server
        self.max_per_address = max_per_address
        self.auth_timeout = auth_timeout
        self.proxy_count = proxy_count
        self._lock = threading.Lock()
        self._per_address: Counter[str] = Counter()
        self._address: dict[str, str] = {}
        self._deadline: dict[str, float] = {}
        self._reaping = False
        server.eio.on("connect", self._on_eio_connect)
        server.eio.on("disconnect", self._on_eio_disconnect)

    def open_count(self, address: str | None = None) -> int:
        with self._lock:
            return len(self._address) if address is None else self._per_address[address]

    def _client_address(self, environ: dict) -> str:
        # The Socket.IO middleware sees the raw environ (ProxyFix is inside it): apply the same
        # trust rule as the app, the proxy_count-th address from the right of X-Forwarded-For.
        if self.proxy_count > 0:
            hops = [h.strip() for h in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
            if len(hops) >= self.proxy_count:
                return hops[-self.proxy_count]
        return environ.get("REMOTE_ADDR") or "unknown"

    def _on_eio_connect(self, eio_sid: str, environ: dict) -> Any:
        address = self._client_address(environ)
        with self._lock:
            if self._per_address[address] >= self.max_per_address:
                return False  # Engine.IO answers the handshake with an error; nothing stays open
            self._per_address[address] += 1
            self._address[eio_sid] = address
            self._deadline[eio_sid] = time.monotonic() + self.auth_timeout
            start = not self._reaping
            self._reaping = True
        if start:
            self.server.start_background_task(self._reap)
        return self.server._handle_eio_connect(eio_sid, environ)

    def _on_eio_disconnect(self, eio_sid: str, *args: Any) -> Any:
        with self._lock:
            address = self._address.pop(eio_sid, None)
            self._deadline.pop(eio_sid, None)
            if address is not None:
                self._per_address[address] -= 1
                if self._per_address[address] <= 0:
                    del self._per_address[address]
        return self.server._handle_eio_disconnect(eio_sid, *args)

    def authenticated(self, sid: str, namespace: str) -> None:
        """A namespace connect succeeded: the connection may stay open."""
        eio_sid = self._eio_sid(sid, namespace)
        with self._lock:
            self._deadline.pop(eio_sid, None)

    def refused(self, sid: str, namespace: str) -> None:
        """A namespace connect was refused: close the connection once the error is sent."""
        eio_sid = self._eio_sid(sid, namespace)
        if eio_sid is None:
            return
        with self._lock:
            if eio_sid in self._address:
                self._deadline[eio_sid] = time.monotonic() + REFUSED_GRACE_S
                start = not self._reaping
                self._reaping = True
            else:
                start = False
        if start:
            self.server.start_background_task(self._reap)

    def _eio_sid(self, sid: str, namespace: str) -> Any:
        try:
            return self.server.manager.eio_sid_from_sid(sid, namespace)
        except Exception:  # noqa: BLE001 - already gone
            return None

    def _reap(self) -> None:
        # Runs while some connection has a deadline; exits when none has (restarted on demand).
        while True:
            self.server.sleep(REAP_INTERVAL_S)
            now = time.monotonic()
            with self._lock:
                expired = [sid for sid, when in self._deadline.items() if when <= now]
                for sid in expired:
                    del self._deadline[sid]
                if not expired and not self._deadline:
                    self._reaping = False
                    return
            for eio_sid in expired:
                try:
                    self.server.eio.disconnect(eio_sid)
                except Exception:  # noqa: BLE001 - closed meanwhile
                    pass
