"""Auth attacks beyond tests/test_auth.py: tokens on admin routes, SQL-injection-shaped names,
brute force, user enumeration by timing, passwords in logs, admin-only surfaces."""

from __future__ import annotations

import logging
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import jwt as pyjwt
import pytest
from flask_jwt_extended import create_access_token, create_refresh_token, decode_token
from sqlalchemy import func, select

from app.auth.models import User
from app.extensions import db
from tests.factories import bearer

SQLI_NAMES = [
    "admin' --",
    "' OR '1'='1",
    "x'; DROP TABLE users; --",
    'a" OR "1"="1',
    "admin'/*",
    "%",
    "_",
    "robert'); DELETE FROM predictions; --",
    "\\'; SELECT pg_sleep(5); --",
]

ADMIN_JSON_ROUTES = [
    ("GET", "/admin/users"),
    ("GET", "/admin/report"),
    ("GET", "/admin/report.csv"),
    ("GET", "/admin/models"),
    ("GET", "/admin/ab"),
    ("PUT", "/admin/ab"),
    ("GET", "/admin/retrain"),
    ("POST", "/admin/retrain"),
    ("GET", "/admin/retrain/1"),
    ("GET", "/admin/webhooks"),
    ("POST", "/admin/webhooks"),
    ("DELETE", "/admin/webhooks/1"),
    ("POST", "/admin/webhooks/1/test"),
    ("GET", "/admin/webhooks/1/deliveries"),
    ("GET", "/metrics"),
]


def test_admin_surfaces_need_an_admin(client, make_user, login, app):
    user = make_user()
    tokens = login(user)
    with app.app_context():
        expired_admin = create_access_token(
            identity=str(make_user(role="admin")["id"]), expires_delta=timedelta(seconds=-1)
        )
        admin_refresh = create_refresh_token(identity=str(make_user(role="admin")["id"]))
        good = decode_token(create_access_token(identity=str(make_user(role="admin")["id"])))
    unsigned_admin = pyjwt.encode(good, None, algorithm="none")
    forged_admin = pyjwt.encode(good, "guessed-secret-0123456789abcdef01234", algorithm="HS256")
    attempts = {
        "no token": ({}, {401}),
        "user token": (bearer(tokens["access_token"]), {403}),
        "user refresh token": (bearer(tokens["refresh_token"]), {401}),
        "admin refresh as access": (bearer(admin_refresh), {401}),
        "expired admin": (bearer(expired_admin), {401}),
        "alg none admin": (bearer(unsigned_admin), {401}),
        "forged admin": (bearer(forged_admin), {401}),
        "basic auth": ({"Authorization": "Basic YWRtaW46YWRtaW4="}, {401}),
    }
    for method, path in ADMIN_JSON_ROUTES:
        for name, (headers, expected) in attempts.items():
            resp = client.open(path, method=method, headers=headers, json={})
            assert resp.status_code in expected, (method, path, name, resp.status_code)
            assert resp.is_json and resp.get_json()["error"]["status"] == resp.status_code
            assert b"digitserve_" not in resp.data  # no metrics leak into an error


def test_revoked_admin_token_is_refused_on_admin_routes(client, make_user, login):
    tokens = login(make_user(role="admin"))
    headers = bearer(tokens["access_token"])
    assert client.get("/admin/users", headers=headers).status_code == 200
    assert client.post("/auth/logout", headers=headers).status_code == 200
    for method, path in ADMIN_JSON_ROUTES:
        resp = client.open(path, method=method, headers=headers, json={})
        assert resp.status_code == 401, (path, resp.status_code)
        assert resp.get_json()["error"]["code"] == "token_revoked"


def test_role_claim_and_other_sub_cannot_escalate(app, client, make_user):
    user = make_user()
    admin = make_user(role="admin")
    with app.app_context():
        claims = decode_token(create_access_token(identity=str(user["id"])))
    # Re-signing needs the key; without it a changed `sub` or role is an invalid signature.
    for tamper in ({"sub": str(admin["id"])}, {"role": "admin", "is_admin": True}, {"type": "admin"}):
        token = pyjwt.encode({**claims, **tamper}, "wrong-key-0123456789abcdef0123456789", algorithm="HS256")
        assert client.get("/admin/users", headers=bearer(token)).status_code == 401
    # A header that names another algorithm is refused too (HS256 only).
    hs512 = pyjwt.encode(claims, app.config["JWT_SECRET_KEY"], algorithm="HS512")
    assert client.get("/auth/me", headers=bearer(hs512)).status_code == 401


@pytest.mark.parametrize("name", SQLI_NAMES)
def test_sql_injection_shaped_usernames(app, client, make_user, name):
    victim = make_user(username="victim_admin", role="admin")
    with app.app_context():
        users_before = db.session.scalar(select(func.count(User.id)))
    # Login: a plain 401, never a match, never a 500.
    resp = client.post("/login", json={"username": name, "password": victim["password"]})
    assert resp.status_code == 401, resp.get_json()
    assert resp.get_json()["error"]["code"] == "invalid_credentials"
    resp = client.post("/auth/login", json={"username": name, "password": "' OR '1'='1"})
    assert resp.status_code == 401
    # Register: refused by the username rule (422), nothing written.
    resp = client.post("/auth/register", json={"username": name, "password": "long-enough-pass"})
    assert resp.status_code == 422, resp.get_json()
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == users_before
        assert db.session.get(User, victim["id"]).role == "admin"


def test_brute_force_one_account_is_429_from_any_address(make_app):
    app = make_app(LOGIN_RATE_LIMIT="1000 per minute", LOGIN_ACCOUNT_RATE_LIMIT="5 per minute")
    from app.auth.services import create_user

    with app.app_context():
        create_user("target", "the-real-password-1")
    client = app.test_client()
    statuses = []
    for i in range(12):
        resp = client.post(
            "/login",
            json={"username": "target" if i % 2 else "TARGET", "password": f"guess-{i}"},
            environ_base={"REMOTE_ADDR": f"192.0.2.{i + 1}"},
        )
        statuses.append(resp.status_code)
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}, statuses
    # Even the right password is refused while the account is throttled: no oracle.
    right = client.post(
        "/login",
        json={"username": "target", "password": "the-real-password-1"},
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    assert right.status_code == 429
    assert int(right.headers["Retry-After"]) > 0


def test_brute_force_from_one_address_is_429_across_accounts(make_app):
    app = make_app(LOGIN_RATE_LIMIT="5 per minute", LOGIN_ACCOUNT_RATE_LIMIT="1000 per minute")
    client = app.test_client()
    statuses = [
        client.post("/login", json={"username": f"acct{i}", "password": "guess-pass"}).status_code
        for i in range(10)
    ]
    assert statuses == [401] * 5 + [429] * 5, statuses
    other = client.post(
        "/login", json={"username": "acct0", "password": "x"}, environ_base={"REMOTE_ADDR": "203.0.113.9"}
    )
    assert other.status_code == 401  # another address is not affected


def test_no_user_enumeration_by_timing(make_app):
    # Production bcrypt cost would make this slow; 8 rounds keeps a measurable hash (~15 ms).
    app = make_app(
        BCRYPT_LOG_ROUNDS=8, LOGIN_RATE_LIMIT="10000 per minute", LOGIN_ACCOUNT_RATE_LIMIT="10000 per minute"
    )
    from app.auth.services import create_user

    with app.app_context():
        create_user("timed-user", "the-real-password-1")
    client = app.test_client()

    def timed(username: str) -> float:
        started = time.perf_counter()
        resp = client.post("/login", json={"username": username, "password": "wrong-password-0"})
        elapsed = time.perf_counter() - started
        assert resp.status_code == 401
        return elapsed

    timed("timed-user"), timed("no-such-user")  # warm-up: the dummy hash is made on first use
    wrong_password, wrong_user = [], []
    for _ in range(30):  # interleaved, so drift affects both alike
        wrong_password.append(timed("timed-user"))
        wrong_user.append(timed("no-such-user"))
    ratio = statistics.median(wrong_user) / statistics.median(wrong_password)
    assert 0.5 <= ratio <= 2.0, (ratio, statistics.median(wrong_user), statistics.median(wrong_password))


ROOT = Path(__file__).resolve().parents[2]
SECRET = "Pa55-never-in-logs-7f3a"


def test_passwords_never_logged_by_the_api(make_app, caplog):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    with caplog.at_level(logging.DEBUG):
        client.post("/auth/register", json={"username": "logcheck", "password": SECRET})
        client.post("/auth/register", json={"username": "logcheck", "password": SECRET})  # 409
        client.post("/auth/register", json={"username": "bad name!", "password": SECRET})  # 422
        client.post("/auth/register", json={"username": "weak", "password": SECRET[:4]})  # weak
        for _ in range(5):  # 200, 401s, then 429
            client.post("/login", json={"username": "logcheck", "password": SECRET})
            client.post("/login", json={"username": "logcheck", "password": SECRET + "x"})
        broken = f'{{"username": "logcheck", "password": "{SECRET}"'  # malformed JSON
        client.post("/login", data=broken, content_type="application/json")
    text = "\n".join(r.getMessage() + str(r.args or "") + str(r.exc_text or "") for r in caplog.records)
    assert SECRET not in text
    assert SECRET[:4] not in text


def test_passwords_never_logged_by_the_cli(app, tmp_path, database_url, mlflow_uri):
    # `app`: its teardown empties the tables, so the CLI-made users go too.
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": database_url,
        "MLFLOW_TRACKING_URI": mlflow_uri,
        "LOG_LEVEL": "DEBUG",
        "APP_ENV": "development",
        "KEY_NAMESPACE": "cli-logcheck",
        "INSTANCE_PATH": str(tmp_path),
    }
    outputs = []
    for name, stdin in (
        ("cli-logcheck", f"{SECRET}\n"),
        ("cli-logcheck", f"{SECRET}\n"),
        ("cli-w", "Wk-7x\n"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi:app", "create-admin", name, "--password-stdin"],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=str(ROOT),
        )
        outputs.append(proc)
    assert outputs[0].returncode == 0, outputs[0].stderr[-2000:]
    assert outputs[1].returncode != 0 and "already taken" in outputs[1].stderr  # 409 as a CLI error
    assert outputs[2].returncode != 0 and "at least" in outputs[2].stderr
    for proc in outputs:
        assert SECRET not in proc.stdout + proc.stderr
        assert "Wk-7x" not in proc.stdout + proc.stderr
