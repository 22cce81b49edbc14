"""Issue 13, items 8, 10-13: sessions, refresh rotation, id reuse, weak passwords, name case,
headers and inputs that used to answer 500."""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import text

from app.extensions import db
from tests.factories import PASSWORD, bearer, sign_in

BIG = 2**63  # one past the largest id a database column holds


def _login(client, username: str, password: str = PASSWORD) -> dict:
    return sign_in(client, username, password, path="/auth/login")


def _refresh(client, token: str):  # noqa: ANN202
    return client.post("/auth/refresh", headers=bearer(token))


def test_logout_with_the_access_token_alone_ends_the_refresh_token_too(client, make_user):
    user = make_user()
    tokens = _login(client, user["username"])
    assert client.post("/auth/logout", headers=bearer(tokens["access_token"])).status_code == 200
    assert _refresh(client, tokens["refresh_token"]).status_code == 401
    assert client.get("/auth/me", headers=bearer(tokens["access_token"])).status_code == 401
    # Another session of the same user is untouched.
    other = _login(client, user["username"])
    assert client.get("/auth/me", headers=bearer(other["access_token"])).status_code == 200


def test_refresh_tokens_rotate_and_reuse_ends_the_session(client, make_user):
    user = make_user()
    tokens = _login(client, user["username"])
    first = _refresh(client, tokens["refresh_token"])
    assert first.status_code == 200
    rotated = first.get_json()
    assert rotated["refresh_token"] != tokens["refresh_token"] and rotated["access_token"]
    assert client.get("/auth/me", headers=bearer(rotated["access_token"])).status_code == 200
    # The stolen copy of the first refresh token is shown again: reuse.
    replay = _refresh(client, tokens["refresh_token"])
    assert replay.status_code == 401 and replay.get_json()["error"]["code"] == "token_revoked"
    # ... which ends the whole session: the legitimate rotated tokens die too.
    assert _refresh(client, rotated["refresh_token"]).status_code == 401
    assert client.get("/auth/me", headers=bearer(rotated["access_token"])).status_code == 401


def test_log_out_everywhere_and_password_change_end_every_session(client, make_user):
    user = make_user()
    a, b = _login(client, user["username"]), _login(client, user["username"])
    resp = client.post("/auth/logout-all", headers=bearer(a["access_token"]))
    assert resp.status_code == 200
    for tokens in (a, b):
        assert client.get("/auth/me", headers=bearer(tokens["access_token"])).status_code == 401
        assert _refresh(client, tokens["refresh_token"]).status_code == 401

    c = _login(client, user["username"])
    weak = client.post(
        "/auth/password",
        headers=bearer(c["access_token"]),
        json={"current_password": user["password"], "new_password": "password"},
    )
    assert weak.status_code == 422 and weak.get_json()["error"]["code"] == "weak_password"
    wrong = client.post(
        "/auth/password",
        headers=bearer(c["access_token"]),
        json={"current_password": "not-my-password-9", "new_password": "another-strong-phrase-7"},
    )
    assert wrong.status_code == 401
    ok = client.post(
        "/auth/password",
        headers=bearer(c["access_token"]),
        json={"current_password": user["password"], "new_password": "another-strong-phrase-7"},
    )
    assert ok.status_code == 200
    assert client.get("/auth/me", headers=bearer(c["access_token"])).status_code == 401
    old = {"username": user["username"], "password": user["password"]}
    assert client.post("/auth/login", json=old).status_code == 401
    _login(client, user["username"], "another-strong-phrase-7")


def test_deleted_users_id_and_tokens_never_pass_to_a_new_account(app, client, make_user):
    victim = make_user()
    tokens = _login(client, victim["username"])
    with app.app_context():
        # No API deletes users; an operator does, in the database. The newest id is the victim's,
        # which is exactly the id SQLite without AUTOINCREMENT hands out again.
        db.session.execute(text("DELETE FROM users WHERE id = :i"), {"i": victim["id"]})
        db.session.commit()
    newcomer = make_user()
    assert newcomer["id"] != victim["id"]
    assert client.get("/auth/me", headers=bearer(tokens["access_token"])).status_code == 401
    assert _refresh(client, tokens["refresh_token"]).status_code == 401


def test_the_same_stamp_check_refuses_a_token_of_a_recreated_id(app, client, make_user):
    """Even where an id does come back (a restored backup, a manual insert), the stamp differs."""
    from app.auth.models import User

    victim = make_user()
    tokens = _login(client, victim["username"])
    with app.app_context():
        user = db.session.get(User, victim["id"])
        username, pw_hash = user.username, user.password_hash
        db.session.delete(user)
        db.session.commit()
        db.session.add(User(id=victim["id"], username=username + "x", password_hash=pw_hash, role="admin"))
        db.session.commit()
    assert client.get("/auth/me", headers=bearer(tokens["access_token"])).status_code == 401
    assert client.get("/admin/users", headers=bearer(tokens["access_token"])).status_code == 401


@pytest.mark.parametrize("password", ["password", "12345678", "        ", "password12345678", "qwertyuiop"])
def test_registration_refuses_common_and_trivial_passwords(client, password):
    resp = client.post("/auth/register", json={"username": "weakling", "password": password})
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["error"]["code"] == "weak_password"


def test_usernames_are_one_account_in_any_letter_case(client):
    first = client.post("/auth/register", json={"username": "racer", "password": "correct-horse-1"})
    assert first.status_code == 201
    for name in ("Racer", "RACER"):
        resp = client.post("/auth/register", json={"username": name, "password": "correct-horse-1"})
        assert resp.status_code == 409, (name, resp.get_json())
    for name in ("racer", "Racer", "RACER"):
        assert _login(client, name)["user"]["id"] == first.get_json()["id"]


def test_security_headers_on_json_docs_and_login(client, make_user):
    user = make_user()
    login = client.post("/auth/login", json={"username": user["username"], "password": user["password"]})
    for resp in (client.get("/health"), client.get("/docs"), client.get("/openapi.json"), login):
        assert resp.headers["X-Content-Type-Options"] == "nosniff", resp.request.path
        assert resp.headers["X-Frame-Options"] == "DENY", resp.request.path
    assert login.headers["Cache-Control"] == "no-store"
    assert "no-store" in client.post("/auth/refresh").headers["Cache-Control"]


def test_anonymous_readiness_names_the_part_not_its_address(make_app):
    from app.health import add_readiness_check

    app = make_app()

    def registry_down() -> None:
        raise ConnectionError("HTTPConnectionPool(host='mlflow.internal.example', port=5001): refused")

    add_readiness_check(app, "model_store", registry_down)
    resp = app.test_client().get("/health/ready")
    assert resp.status_code == 503 and resp.get_json()["failing"] == ["model_store"]
    assert "mlflow.internal" not in resp.get_data(as_text=True) and "5001" not in resp.get_data(as_text=True)


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("method", "path", "admin"),
    [
        ("POST", "/auth/login", False),
        ("POST", "/auth/register", False),
        ("POST", "/auth/logout", True),
        ("POST", "/feedback", True),
        ("PUT", "/admin/ab", True),
        ("POST", "/admin/retrain", True),
    ],
)
def test_json_nested_thousands_deep_is_400_not_500(client, admin_headers, method, path, admin):
    for body in (_deep(1000), _deep(100_000), '{"username": ' + _deep(5000) + "}"):
        resp = client.open(
            path,
            method=method,
            data=body,
            content_type="application/json",
            headers=admin_headers if admin else {},
        )
        assert resp.status_code == 400, (path, resp.status_code, resp.get_data(as_text=True)[:200])
        assert resp.get_json()["error"]["status"] == 400


def test_ids_past_the_database_range_are_422_or_404_not_500(client, user_headers, admin_headers):
    for pid in (BIG, 2**64, 10**30):
        resp = client.post("/feedback", headers=user_headers, json={"prediction_id": pid, "correct": True})
        assert resp.status_code == 422, resp.get_json()
    for job in (BIG, 2**64, 10**30):
        resp = client.get(f"/admin/retrain/{job}", headers=admin_headers)
        assert resp.status_code == 404, resp.get_json()
    resp = client.patch(f"/admin/users/{BIG}", headers=admin_headers, json={"active": False})
    assert resp.status_code == 404


def test_development_never_signs_with_the_published_secret(tmp_path, base_overrides):
    """Issue 13, item 6: without SECRET_KEY/JWT_SECRET_KEY, development uses a random secret kept
    under instance/; the old published default is refused outright."""
    import jwt as pyjwt

    from app import ConfigError, create_app
    from app.config import DEV_SECRET

    overrides = {k: v for k, v in base_overrides.items() if k not in ("SECRET_KEY", "JWT_SECRET_KEY")}
    os.environ["INSTANCE_PATH"] = str(tmp_path / "instance")
    try:
        app = create_app("development", {**overrides, "SECRET_KEY": None, "JWT_SECRET_KEY": None})
        again = create_app("development", {**overrides, "SECRET_KEY": None, "JWT_SECRET_KEY": None})
        with pytest.raises(ConfigError, match="published"):
            create_app("development", {**overrides, "JWT_SECRET_KEY": DEV_SECRET})
    finally:
        os.environ.pop("INSTANCE_PATH", None)
    key = app.config["JWT_SECRET_KEY"]
    assert key != DEV_SECRET and len(key) >= 32 and again.config["JWT_SECRET_KEY"] == key
    assert (tmp_path / "instance" / "jwt_secret_key").stat().st_mode & 0o077 == 0
    claims = {"sub": "1", "type": "access", "jti": "x", "exp": 2**31}
    forged = pyjwt.encode(claims, DEV_SECRET, algorithm="HS256")
    assert app.test_client().get("/admin/users", headers=bearer(forged)).status_code == 401
    assert json.loads(app.test_client().get("/health").get_data()) == {"status": "ok"}


def test_limits_match_use_dashboard_and_feedback(make_app, sign_in):
    """Issue 13, item 7: the default 50 per hour per endpoint locked the admin dashboard out of its
    own report at the 45th read, and a user out of feedback after 50 of 150 daily predictions."""
    app = make_app()
    admin_client, admin = sign_in(app, role="admin")
    for n in range(120):  # an hour of a busy dashboard's report reloads, compressed
        resp = admin_client.get("/admin/report", headers=admin)
        assert resp.status_code == 200, (n, resp.get_json())
    user_client, user = sign_in(app)
    for n in range(80):
        resp = user_client.post("/feedback", headers=user, json={"prediction": n % 10, "correct": True})
        assert resp.status_code == 201, (n, resp.get_json())
    # Anonymous callers keep the tight default.
    anon = app.test_client()
    statuses = [anon.get("/admin/report").status_code for _ in range(55)]
    assert statuses[-1] == 429 and set(statuses[:50]) == {401}
