from __future__ import annotations


def test_create_admin_from_cli_can_use_admin_route(app, runner, client):
    result = runner.invoke(args=["create-admin", "root", "--password-stdin"], input="admin-password-1\n")
    assert result.exit_code == 0, result.output
    assert "Created admin 'root'" in result.output
    tokens = client.post("/login", json={"username": "root", "password": "admin-password-1"}).get_json()
    resp = client.get("/admin/users", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert resp.status_code == 200
    assert [u["role"] for u in resp.get_json()["items"] if u["username"] == "root"] == ["admin"]


def test_create_user_from_cli_prompts_and_rejects_duplicates_and_weak_passwords(runner, client):
    result = runner.invoke(args=["create-user", "dave"], input="user-password-1\nuser-password-1\n")
    assert result.exit_code == 0, result.output
    login = client.post("/login", json={"username": "dave", "password": "user-password-1"}).get_json()
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {login['access_token']}"}).get_json()
    assert me["role"] == "user"
    dup = runner.invoke(args=["create-user", "dave", "--password-stdin"], input="user-password-2\n")
    assert dup.exit_code != 0 and "already taken" in dup.output
    weak = runner.invoke(args=["create-admin", "eve", "--password-stdin"], input="short\n")
    assert weak.exit_code != 0 and "at least 8" in weak.output
