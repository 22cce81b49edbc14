"""Verified tokens remembered per process, so a token is decoded and checked once, not per request.

Flask-JWT-Extended decodes a presented token three times per request (its claims unverified,
its header, then verified), and PyJWT checks every base64 character in Python: ~0.15 ms of each
prediction (py-spy), the same work for every request of a client that reuses its token.

A remembered answer depends only on the token string and the verification settings (secret,
algorithms, audience, issuer, leeway), all part of the key, and on the clock: `exp` and `nbf` are
checked again on every use, and a token past either goes the full way (which raises). Only tokens
that verified are remembered. Revocation, the user's row and roles are not part of decoding: they
are checked on every request as before (the blocklist and user loaders).
"""

from __future__ import annotations

import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import jwt
from flask import current_app
from flask_jwt_extended import JWTManager, view_decorators

MAX_TOKENS = 4096  # distinct verified tokens kept per process (least recently used dropped)


class DecodedTokens:
    def __init__(self, size: int = MAX_TOKENS) -> None:
        self._size = size
        self._items: OrderedDict[tuple, dict] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, leeway: float, allow_expired: bool = False) -> dict | None:
        with self._lock:
            claims = self._items.get(key)
            if claims is not None:
                self._items.move_to_end(key)
        if claims is None:
            return None
        now = time.time()
        if not allow_expired and "exp" in claims and now > float(claims["exp"]) + leeway:
            return None
        if "nbf" in claims and now < float(claims["nbf"]) - leeway:
            return None
        return claims

    def put(self, key: tuple, claims: dict) -> None:
        with self._lock:
            self._items[key] = claims
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def _key(encoded_token: str, csrf_value: Any, allow_expired: bool) -> tuple:
    cfg = current_app.config
    settings = tuple(
        repr(cfg.get(name))
        for name in ("JWT_SECRET_KEY", "SECRET_KEY", "JWT_PUBLIC_KEY", "JWT_ALGORITHM",
                     "JWT_DECODE_ALGORITHMS", "JWT_DECODE_AUDIENCE", "JWT_DECODE_ISSUER",
                     "JWT_DECODE_LEEWAY", "JWT_IDENTITY_CLAIM", "JWT_VERIFY_SUB")
    )  # fmt: skip
    return (encoded_token, csrf_value, allow_expired, settings)


def remember_verified_tokens(manager: JWTManager, tokens: DecodedTokens | None = None) -> DecodedTokens:
    """Put the cache in front of `manager`'s decoding (once per manager)."""
    existing = getattr(manager, "_digitserve_decoded", None)
    if existing is not None:
        return existing
    tokens = tokens or DecodedTokens()
    decode: Callable[..., dict] = manager._decode_jwt_from_config

    def cached_decode(encoded_token: str, csrf_value: Any = None, allow_expired: bool = False) -> dict:
        key = _key(encoded_token, csrf_value, allow_expired)
        leeway = float(current_app.config.get("JWT_DECODE_LEEWAY") or 0)
        claims = tokens.get(key, leeway, allow_expired)
        if claims is None:
            claims = decode(encoded_token, csrf_value, allow_expired)
            tokens.put(key, claims)
        return dict(claims)  # callers may annotate their copy

    manager._decode_jwt_from_config = cached_decode  # type: ignore[method-assign]
    manager._digitserve_decoded = tokens  # type: ignore[attr-defined]
    # After verifying, Flask-JWT-Extended reads the token's header once more (base64 + JSON; its
    # own call, outside the decode above). The header is a function of the token string alone.
    view_decorators.get_unverified_jwt_headers = _cached_header
    return tokens


@functools.lru_cache(maxsize=MAX_TOKENS)
def _header_of(encoded_token: str) -> dict:
    return jwt.get_unverified_header(encoded_token)


def _cached_header(encoded_token: str) -> dict:
    return dict(_header_of(encoded_token))  # callers get their own copy
