from __future__ import annotations

from datetime import timedelta

import jwt as pyjwt
from flask_jwt_extended import create_access_token, decode_token


def test_register_creates_user_with_role_user(client):
    resp = client.post("/auth/register", json={"username": "alice", "password": "s3cret-pass"})
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["username"] == "alice" and body["role"] == "user"
    assert "password" not in body and "password_hash" not in body


def test_register_refuses_client_supplied_role(client):
    resp = client.post(
        "/auth/register", json={"username": "mallory", "password": "s3cret-pass", "role": "admin"}
    )
    assert resp.status_code == 422
    assert "role" in resp.get_json()["error"]["details"]["json"]


def test_duplicate_username_is_409(client):
    assert (
        client.post("/auth/register", json={"username": "bob", "password": "s3cret-pass"}).status_code == 201
    )
    resp = client.post("/auth/register", json={"username": "bob", "password": "another-pass"})
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "username_taken"


def test_weak_password_is_422(client):
    resp = client.post("/auth/register", json={"username": "carol", "password": "short"})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "weak_password"


def test_login_right_and_wrong_password(client, make_user):
    user = make_user()
    ok = client.post("/login", json={"username": user["username"], "password": user["password"]})
    assert ok.status_code == 200
    body = ok.get_json()
    assert body["access_token"] and body["refresh_token"] and body["token_type"] == "bearer"
    bad = client.post("/auth/login", json={"username": user["username"], "password": "wrong-password"})
    assert bad.status_code == 401
    assert "access_token" not in bad.get_json()
    unknown = client.post("/auth/login", json={"username": "nobody", "password": "wrong-password"})
    assert unknown.status_code == 401
    # Same answer for an unknown user as for a wrong password: no user enumeration.
    assert unknown.get_json() == bad.get_json()


def test_me_reads_role_from_database(app, client, make_user, login):
    user = make_user()
    headers = {"Authorization": f"Bearer {login(user)['access_token']}"}
    assert client.get("/auth/me", headers=headers).get_json()["role"] == "user"
    from app.auth.models import User
    from app.extensions import db

    with app.app_context():
        db.session.get(User, user["id"]).role = "admin"
        db.session.commit()
    # The same token now carries admin rights, because roles are looked up per request.
    assert client.get("/auth/me", headers=headers).get_json()["role"] == "admin"
    assert client.get("/admin/users", headers=headers).status_code == 200


def test_default_access_token_lasts_15_minutes_and_refresh_30_days(app, client, make_user, login):
    tokens = login(make_user())
    with app.app_context():
        access = decode_token(tokens["access_token"])
        refresh = decode_token(tokens["refresh_token"])
    assert access["exp"] - access["iat"] == 15 * 60 or app.config["TESTING"]
    assert refresh["exp"] - refresh["iat"] == 30 * 24 * 3600
    assert access["type"] == "access" and refresh["type"] == "refresh"


def test_expired_token_is_401(app, client, make_user):
    user = make_user()
    with app.app_context():
        token = create_access_token(identity=str(user["id"]), expires_delta=timedelta(seconds=-5))
    resp = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "token_expired"


def test_refresh_gives_new_access_token(client, make_user, login):
    tokens = login(make_user())
    resp = client.post("/auth/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"})
    assert resp.status_code == 200
    new_access = resp.get_json()["access_token"]
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {new_access}"}).status_code == 200
    # An access token cannot be used to refresh, nor a refresh token as an access token.
    assert client.post("/auth/refresh", headers={"Authorization": f"Bearer {new_access}"}).status_code == 401
    assert (
        client.get("/auth/me", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}).status_code
        == 401
    )


def test_logout_revokes_access_and_refresh_tokens(client, make_user, login):
    tokens = login(make_user())
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    resp = client.post("/auth/logout", headers=headers, json={"refresh_token": tokens["refresh_token"]})
    assert resp.status_code == 200
    again = client.get("/auth/me", headers=headers)
    assert again.status_code == 401
    assert again.get_json()["error"]["code"] == "token_revoked"
    refresh = client.post("/auth/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"})
    assert refresh.status_code == 401


def test_user_on_admin_route_is_403_and_admin_is_200(client, user_headers, admin_headers):
    denied = client.get("/admin/users", headers=user_headers)
    assert denied.status_code == 403
    assert denied.get_json()["error"]["code"] == "forbidden"
    allowed = client.get("/admin/users", headers=admin_headers)
    assert allowed.status_code == 200
    assert any(u["role"] == "admin" for u in allowed.get_json()["items"])


def test_injected_role_claim_is_ignored(app, client, make_user):
    user = make_user()
    with app.app_context():
        token = create_access_token(identity=str(user["id"]), additional_claims={"role": "admin"})
    assert client.get("/admin/users", headers={"Authorization": f"Bearer {token}"}).status_code == 403


def test_forged_and_unsigned_tokens_are_401(app, client, make_user):
    user = make_user()
    with app.app_context():
        good = decode_token(create_access_token(identity=str(user["id"])))
    forged = pyjwt.encode(good, "not-the-server-key-0123456789abcdef", algorithm="HS256")
    unsigned = pyjwt.encode(good, None, algorithm="none")
    for token in (forged, unsigned, "garbage.token.here"):
        resp = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401, token
        assert resp.get_json()["error"]["code"] == "token_invalid"


def test_token_of_deleted_user_is_401(app, client, make_user, login):
    user = make_user()
    headers = {"Authorization": f"Bearer {login(user)['access_token']}"}
    from app.auth.models import User
    from app.extensions import db

    with app.app_context():
        db.session.get(User, user["id"]).active = False
        db.session.commit()
    resp = client.get("/auth/me", headers=headers)
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "user_unknown"


def test_login_rate_limited_per_address(make_app, make_user):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute", LOGIN_ACCOUNT_RATE_LIMIT="100 per minute")
    client = app.test_client()
    statuses = [
        client.post("/login", json={"username": f"u{i}", "password": "wrong-password"}).status_code
        for i in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    last = client.post("/login", json={"username": "u9", "password": "wrong-password"})
    assert last.status_code == 429
    assert last.get_json()["error"]["code"] == "rate_limited"
    assert "Retry-After" in last.headers


def test_login_rate_limited_per_account_across_addresses(make_app):
    app = make_app(LOGIN_RATE_LIMIT="100 per minute", LOGIN_ACCOUNT_RATE_LIMIT="3 per minute")
    client = app.test_client()
    statuses = [
        client.post(
            "/login",
            json={"username": "victim", "password": "wrong-password"},
            environ_base={"REMOTE_ADDR": f"10.0.0.{i}"},
        ).status_code
        for i in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    # Another account from the same addresses is not affected.
    other = client.post(
        "/login", json={"username": "other", "password": "x"}, environ_base={"REMOTE_ADDR": "10.0.0.1"}
    )
    assert other.status_code == 401


def test_default_limits_and_headers(make_app):
    app = make_app(RATELIMIT_DEFAULT="2 per minute")
    client = app.test_client()
    first = client.get("/admin/users")
    assert first.status_code == 401
    assert first.headers["X-RateLimit-Limit"] == "2"
    client.get("/admin/users")
    assert client.get("/admin/users").status_code == 429
    # Health probes are exempt.
    assert client.get("/health").status_code == 200
