"""Real local receivers for the notification tests: an HTTP server that checks the webhook
signature, and an aiosmtpd SMTP server. Both on 127.0.0.1, free ports, in threads."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Receiver:
    """Records every POST: headers, raw body, arrival time, whether the signature verifies.

    `fail_first` answers 503 to that many requests first; `hold` (an Event) makes every request
    wait on it (a slow receiver) until set (at most 120 s); `in_flight` counts requests being held."""

    def __init__(self, secret: str, port: int = 0, fail_first: int = 0, hold: threading.Event | None = None):
        self.secret = secret
        self.fail_first = fail_first
        self.hold = hold
        self.requests: list[dict] = []
        self.in_flight = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.hold is not None:
                    with receiver._lock:
                        receiver.in_flight += 1
                    receiver.hold.wait(120)
                    with receiver._lock:
                        receiver.in_flight -= 1
                expected = "sha256=" + hmac.new(receiver.secret.encode(), raw, hashlib.sha256).hexdigest()
                sig = self.headers.get("X-Digitserve-Signature", "")
                with receiver._lock:
                    entry = {
                        "at": time.monotonic(),
                        "headers": dict(self.headers),
                        "body": json.loads(raw),
                        "signed": hmac.compare_digest(expected, sig),
                    }
                    receiver.requests.append(entry)
                    failing = len(receiver.requests) <= receiver.fail_first
                status = 503 if failing or not entry["signed"] else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[str]:
        with self._lock:
            return [r["body"]["event"] for r in self.requests]

    def close(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def handle_DATA(self, _server, _session, envelope) -> str:  # noqa: ANN001, N802 - aiosmtpd's API
        self.messages.append(
            {"to": list(envelope.rcpt_tos), "data": envelope.content.decode("utf-8", "replace")}
        )
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self) -> None:
        self.inbox = _Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def messages(self) -> list[dict]:
        return list(self.inbox.messages)

    def close(self) -> None:
        self.controller.stop()


SECRET = "s3cret-for-webhook-tests-0123"

# Quick deliverer for tests: short poll, backoff and timeouts.
FAST = {
    "NOTIFY_POLL_SECONDS": 0.05,
    "NOTIFY_BACKOFF_SECONDS": 0.2,
    # Generous: on a busy machine a local receiver may take a while to answer, and a timed-out
    # delivery is retried (a second send), which the exactly-once tests would count.
    "NOTIFY_HTTP_TIMEOUT": 10.0,
    "NOTIFY_SMTP_TIMEOUT": 5.0,
    "NOTIFY_LEASE_SECONDS": 30.0,
    "RATELIMIT_DEFAULT": "10000 per hour",
}


def add_webhook(client, headers: dict, url: str, events: list[str], secret: str = SECRET) -> dict:  # noqa: ANN001
    resp = client.post(
        "/admin/webhooks", headers=headers, json={"url": url, "events": events, "secret": secret}
    )
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()
