"""Verified tokens remembered per process (app/auth/decoded.py): the cache never lets through
a token the full check would refuse: expired, signed with another secret, altered, revoked."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import jwt as pyjwt
from flask_jwt_extended import create_access_token, view_decorators

from app.auth.decoded import DecodedTokens, _key
from app.extensions import jwt
from tests.factories import sign_in

ME = "/auth/me"


def _get(client, token: str):  # noqa: ANN001, ANN202
    return client.get(ME, headers={"Authorization": f"Bearer {token}"})


def _signed_in(app, make_user):  # noqa: ANN001, ANN202
    """A client and a fresh user's access token, already accepted once (so remembered)."""
    user = make_user()
    client = app.test_client()
    token = sign_in(client, user["username"], user["password"])["access_token"]
    assert _get(client, token).status_code == 200
    return client, token


def test_remembered_token_still_expires(app, make_user):
    user = make_user()
    with app.app_context():
        expired = create_access_token(identity=str(user["id"]), expires_delta=timedelta(seconds=-30))
        # As if it had been verified (and remembered) while it was still valid.
        decoded = jwt._digitserve_decoded
        decoded.put(_key(expired, None, False), {"sub": str(user["id"]), "exp": time.time() - 30})
    resp = _get(app.test_client(), expired)
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "token_expired"


def test_token_of_another_secret_is_refused_after_being_remembered(make_app, make_user):
    first = make_app()
    other = make_app(JWT_SECRET_KEY="another-jwt-secret-0123456789abcdef-xyz")
    user = make_user()
    client = first.test_client()
    token = sign_in(client, user["username"], user["password"])["access_token"]
    assert _get(client, token).status_code == 200
    assert _get(client, token).status_code == 200  # answered from the cache
    assert _get(other.test_client(), token).status_code in (401, 422)


def test_altered_token_is_refused(app, make_user):
    client, token = _signed_in(app, make_user)
    head, body, sig = token.split(".")
    forged = ".".join([head, body, sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")])
    assert _get(client, forged).status_code in (401, 422)


def test_logout_still_revokes_a_remembered_token(app, make_user):
    client, token = _signed_in(app, make_user)
    assert client.post("/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code in (200, 204)
    assert _get(client, token).status_code == 401


def test_cache_is_bounded_and_checks_the_clock():
    tokens = DecodedTokens(size=2)
    for i in range(3):
        tokens.put((f"t{i}",), {"exp": time.time() + 60})
    assert tokens.get(("t0",), 0) is None  # least recently used, dropped
    assert tokens.get(("t2",), 0) is not None
    tokens.put(("late",), {"exp": time.time() - 1})
    assert tokens.get(("late",), 0) is None
    assert tokens.get(("late",), 5) is not None  # within the configured leeway
    assert tokens.get(("late",), 0, allow_expired=True) is not None
    tokens.put(("early",), {"nbf": time.time() + 60})
    assert tokens.get(("early",), 0) is None


def test_remembered_header_is_the_tokens_own_and_each_caller_gets_a_copy(app, make_user):
    client, token = _signed_in(app, make_user)
    first = view_decorators.get_unverified_jwt_headers(token)
    assert first == pyjwt.get_unverified_header(token) and first["alg"] == "HS256"
    first["alg"] = "none"  # a caller changing its copy changes nothing for the next request
    assert view_decorators.get_unverified_jwt_headers(token)["alg"] == "HS256"


def test_token_with_a_swapped_header_is_refused_after_the_genuine_one(app, make_user):
    client, token = _signed_in(app, make_user)
    _, body, sig = token.split(".")
    head = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=").decode()
    assert _get(client, ".".join([head, body, sig])).status_code in (401, 422)
    assert _get(client, ".".join([head, body, ""])).status_code in (401, 422)
