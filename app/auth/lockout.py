"""Brute-force protection that cannot be turned into a lockout (OWASP "device cookies").

- A successful sign-in makes the client trusted for that account: it gets a signed device cookie
  (``ds_device``, also returned as ``device_token`` for API clients, who send it back in the
  ``X-Device-Token`` header), and the address is remembered for the account.
- Failed attempts from untrusted clients count against the account (LOGIN_ACCOUNT_RATE_LIMIT);
  when that is exhausted, untrusted clients get 429 for the account, also with the right password.
- A trusted client (valid device token for this account, or an address the account signed in
  from before) is not subject to that counter: it has its own (LOGIN_TRUSTED_RATE_LIMIT, per
  account and device/address), so failures from elsewhere never lock it out.
- Only failures are counted per account; every attempt still counts per address
  (LOGIN_RATE_LIMIT), which limits password spraying from one place.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import Any

from flask import Response, current_app, g, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.extensions import limiter, namespaced

log = logging.getLogger(__name__)

COOKIE = "ds_device"
HEADER = "X-Device-Token"
DEVICE_DAYS = 90
KNOWN_ADDRESS_DAYS = 30


def login_name() -> str:
    """The account an attempt is for, as counted: the username in lower case (names are unique
    without regard to case)."""
    body = request.get_json(silent=True)
    name = body.get("username") if isinstance(body, dict) else None
    return str(name)[:64].lower() if isinstance(name, str) and name else "-"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="digitserve-device")


def _digest(value: str) -> str:
    # Counter keys hold no usernames, addresses or tokens in clear.
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:32]


def _device_nonce(account: str) -> str | None:
    token = request.headers.get(HEADER) or request.cookies.get(COOKIE)
    if not token or len(token) > 512:
        return None
    try:
        data = _serializer().loads(token, max_age=DEVICE_DAYS * 86400)
    except BadSignature:
        return None
    if isinstance(data, dict) and data.get("u") == account and isinstance(data.get("n"), str):
        return data["n"]
    return None


def _known_address_key(account: str) -> str:
    return namespaced(f"login-known:{_digest(account)}:{_digest(request.remote_addr or '-')}")


def _address_known(account: str) -> bool:
    try:
        return limiter.storage.get(_known_address_key(account)) > 0
    except Exception as exc:  # noqa: BLE001 - storage down: treat as unknown (the stricter path)
        log.warning("login: cannot read known addresses: %s", exc)
        return False


def trusted_key() -> str | None:
    """The per-account key of a trusted client (device or known address), None if untrusted."""
    if "_login_trusted" not in g:
        account = login_name()
        nonce = _device_nonce(account)
        if nonce is not None:
            g._login_trusted = namespaced(f"login-device:{_digest(account)}:{nonce}")
        elif account != "-" and _address_known(account):
            address = _digest(request.remote_addr or "-")
            g._login_trusted = namespaced(f"login-addr:{_digest(account)}:{address}")
        else:
            g._login_trusted = None
    return g._login_trusted


def is_trusted() -> bool:
    return trusted_key() is not None


def is_untrusted() -> bool:
    return trusted_key() is None


def untrusted_account_key() -> str:
    return namespaced(f"login-account:{login_name()}")


def trusted_client_key() -> str:
    return trusted_key() or untrusted_account_key()


def failed(response: Response) -> bool:
    return response.status_code == 401


def remember_client(account: str, response_body: dict[str, Any]) -> str:
    """After a successful sign-in: remember the address and hand out a device token."""
    try:
        limiter.storage.incr(_known_address_key(account), KNOWN_ADDRESS_DAYS * 86400)
    except Exception as exc:  # noqa: BLE001 - the device token still works
        log.warning("login: cannot remember the address: %s", exc)
    nonce = _device_nonce(account) or secrets.token_hex(8)
    token = _serializer().dumps({"u": account, "n": nonce})
    response_body["device_token"] = token
    return token


def set_device_cookie(response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=DEVICE_DAYS * 86400,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
        path="/",
    )
