"""Sending one claimed outbox row: a signed JSON POST to a webhook, or an email.

Webhook URLs are fetched FROM THE SERVER: whoever can create webhooks (admins only) can make the
server POST to any address it reaches, internal ones included. Redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.error
import urllib.request

from flask import current_app

from app.notify.mail import send_email

SIGNATURE_HEADER = "X-Digitserve-Signature"
EVENT_HEADER = "X-Digitserve-Event"
DELIVERY_HEADER = "X-Digitserve-Delivery"


def signature(secret: str, body: bytes) -> str:
    """The header value: sha256=<hex HMAC-SHA256 of the raw body keyed with the secret>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args, **_kwargs) -> None:  # noqa: ANN002, ANN003
        return None  # a 3xx is an answer (a failure), not an invitation to POST elsewhere


_opener = urllib.request.build_opener(_NoRedirect)


def post_webhook(
    url: str, secret: str, event: str, uid: str, body: str, timeout: float
) -> tuple[bool, int | None, str | None]:
    """(success, HTTP status, error). Success is a 2xx answer within the timeout."""
    raw = body.encode()
    request = urllib.request.Request(
        url,
        data=raw,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "digitserve-webhooks/1",
            SIGNATURE_HEADER: signature(secret, raw),
            EVENT_HEADER: event,
            DELIVERY_HEADER: uid,
        },
    )
    try:
        with _opener.open(request, timeout=timeout) as resp:
            resp.read(65536)
            return 200 <= resp.status < 300, resp.status, None if resp.status < 300 else f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return False, exc.code, f"HTTP {exc.code}"
    except Exception as exc:  # noqa: BLE001 - refused, timed out, DNS, TLS: all a failed attempt
        return False, None, f"{type(exc).__name__}: {exc}"[:500]


def send_delivery(item: dict) -> tuple[bool, int | None, str | None]:
    cfg = current_app.config
    if item["kind"] == "email":
        return send_email(item["recipient"], item["body"])
    if item["url"] is None:
        return False, None, "webhook deleted"
    return post_webhook(
        item["url"], item["secret"], item["event"], item["uid"], item["body"], cfg["NOTIFY_HTTP_TIMEOUT"]
    )
