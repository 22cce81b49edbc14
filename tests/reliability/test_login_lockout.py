"""Issue 13, item 4: brute-force protection without a lockout. Ten wrong passwords from ten
addresses, and ten a minute from one address, must not lock out a user who signed in before from
their device or address; untrusted clients stay throttled (no password oracle for the attacker)."""

from __future__ import annotations

import pytest

from app.auth.lockout import COOKIE, HEADER

PASSWORD = "the-real-password-1"


@pytest.fixture
def target(make_app):
    app = make_app(LOGIN_RATE_LIMIT="1000 per minute", LOGIN_ACCOUNT_RATE_LIMIT="10 per minute")
    from app.auth.services import create_user

    with app.app_context():
        create_user("target", PASSWORD)
    return app


def _attempt(client, password: str, address: str, name: str = "target", headers: dict | None = None):  # noqa: ANN202
    return client.post(
        "/auth/login",
        json={"username": name, "password": password},
        environ_base={"REMOTE_ADDR": address},
        headers=headers or {},
    )


def _attack(app, rounds: int = 12) -> list[int]:
    attacker = app.test_client()
    names = ("target", "TARGET", "Target")
    return [
        _attempt(attacker, f"guess-{i}", f"192.0.2.{i + 1}", name=names[i % 3]).status_code
        for i in range(rounds)
    ]


def test_device_cookie_and_device_token_survive_a_distributed_attack(target):
    phone = target.test_client()  # keeps cookies, like a browser
    first = _attempt(phone, PASSWORD, "198.51.100.20")
    assert first.status_code == 200
    device_token = first.get_json()["device_token"]
    assert COOKIE in first.headers.get("Set-Cookie", "") and "HttpOnly" in first.headers["Set-Cookie"]

    statuses = _attack(target)
    assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}, statuses
    # An untrusted client with the right password is still refused: no oracle for the attacker.
    assert _attempt(target.test_client(), PASSWORD, "203.0.113.50").status_code == 429

    # The user's own device, now on another network (new address): the cookie lets it in.
    assert _attempt(phone, PASSWORD, "203.0.113.77").status_code == 200
    # An API client sending its device token back as a header, from anywhere, in any letter case.
    api = target.test_client()
    for name in ("target", "TARGET"):
        resp = _attempt(api, PASSWORD, "203.0.113.99", name=name, headers={HEADER: device_token})
        assert resp.status_code == 200, (name, resp.get_json())


def test_an_address_the_user_signed_in_from_is_not_locked_out(target):
    home = "198.51.100.30"
    assert _attempt(target.test_client(), PASSWORD, home).status_code == 200
    _attack(target)
    # A fresh client (no cookie, e.g. curl) from the known address.
    assert _attempt(target.test_client(), PASSWORD, home).status_code == 200


def test_ten_a_minute_from_one_address_never_locks_the_owner_out(target):
    phone = target.test_client()
    assert _attempt(phone, PASSWORD, "198.51.100.40").status_code == 200
    attacker = target.test_client()
    for _ in range(3):  # three "minutes" of the attack, without waiting: the counter stays full
        for i in range(10):
            _attempt(attacker, f"guess-{i}", "192.0.2.200")
        assert _attempt(phone, PASSWORD, "198.51.100.40").status_code == 200


def test_a_trusted_device_is_still_throttled_itself(target):
    """Trust is no free pass: a stolen device cookie gets its own failure counter."""
    phone = target.test_client()
    assert _attempt(phone, PASSWORD, "198.51.100.60").status_code == 200
    statuses = [_attempt(phone, f"wrong-{i}", "198.51.100.60").status_code for i in range(12)]
    assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}, statuses


def test_a_forged_or_foreign_device_token_is_untrusted(target, make_user):
    other = target.test_client()
    from app.auth.services import create_user

    with target.app_context():
        create_user("someone", "another-real-password-2")
    signed_in = _attempt(other, "another-real-password-2", "198.51.100.70", name="someone")
    foreign = signed_in.get_json()["device_token"]
    _attack(target)
    for token in (foreign, "garbage", foreign[:-2] + "xx"):
        resp = _attempt(target.test_client(), PASSWORD, "203.0.113.80", headers={HEADER: token})
        assert resp.status_code == 429, token
