from __future__ import annotations

import secrets

import pytest

from app import create_app
from app.config import ConfigError, ProductionConfig


def _assert_json_error(resp, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status
    assert resp.is_json, resp.data[:200]
    err = resp.get_json()["error"]
    assert err["status"] == status and err["message"]
    if code:
        assert err["code"] == code
    return err


def test_unknown_route_is_json_404(client):
    _assert_json_error(client.get("/no/such/route"), 404, "not_found")


def test_wrong_method_is_json_405(client):
    resp = client.get("/auth/login")
    _assert_json_error(resp, 405, "method_not_allowed")
    assert "POST" in resp.headers["Allow"]


def test_malformed_json_is_400(client):
    resp = client.post("/auth/register", data="{not json", content_type="application/json")
    err = _assert_json_error(resp, 400, "bad_request")
    assert "JSON" in err["message"]


def test_validation_error_is_422_with_field_details(client):
    err = _assert_json_error(client.post("/auth/login", json={"username": "x"}), 422)
    assert "password" in err["details"]["json"]


def test_body_over_max_content_length_is_413(make_app):
    app = make_app(MAX_CONTENT_LENGTH=100)
    resp = app.test_client().post("/auth/register", data="x" * 1000, content_type="application/json")
    _assert_json_error(resp, 413, "payload_too_large")


def test_unhandled_exception_is_json_500_without_traceback(make_app):
    app = make_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    resp = app.test_client().get("/boom")
    err = _assert_json_error(resp, 500, "internal_error")
    assert "secret internals" not in resp.get_data(as_text=True)
    assert "Traceback" not in resp.get_data(as_text=True)
    assert err["message"] == "Internal server error."


def test_health_is_cheap_and_ready_checks_database(client):
    assert client.get("/health").get_json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.get_json()["checks"]["database"] == "ok"


def test_ready_is_503_naming_the_failing_part(make_app):
    app = make_app()
    from app.health import add_readiness_check

    def broken() -> None:
        raise ConnectionError("model store unreachable")

    add_readiness_check(app, "model_store", broken)
    resp = app.test_client().get("/health/ready")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["failing"] == ["model_store"]
    assert body["error"]["code"] == "not_ready"
    assert "model_store" in body["error"]["message"]


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "changeme",
        "dev-only-insecure-secret-do-not-use-in-production",
        "short",
        # issue 13, item 10: weak secrets production used to accept
        "aaaaaaaaaaaaaaaa",
        "password12345678",
        "changeme-changeme",
        "k" * 40,
    ],
)
def test_production_refuses_placeholder_and_weak_secrets(secret, database_url):
    strong = secrets.token_urlsafe(32)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(
            ProductionConfig,
            {"SECRET_KEY": secret, "JWT_SECRET_KEY": strong, "SQLALCHEMY_DATABASE_URI": database_url},
        )
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY"):
        create_app(
            ProductionConfig,
            {"SECRET_KEY": strong, "JWT_SECRET_KEY": secret, "SQLALCHEMY_DATABASE_URI": database_url},
        )


def test_production_starts_with_real_secrets(database_url):
    app = create_app(
        ProductionConfig,
        {
            "SECRET_KEY": secrets.token_urlsafe(32),
            "JWT_SECRET_KEY": secrets.token_urlsafe(32),
            "SQLALCHEMY_DATABASE_URI": database_url,
        },
    )
    assert app.config["MAX_CONTENT_LENGTH"] == 5 * 1024 * 1024
    assert not app.config.get("TESTING")
