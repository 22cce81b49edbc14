"""The per-worker auth caches (app/auth/cache.py): changes reach every worker within one second.

Two apps on the same database (and Redis, when configured) stand for two gunicorn workers. Each
test warms worker B's cache, makes the change through worker A, then measures how long B keeps
accepting: every request that starts AUTH_CACHE_SECONDS (0.5) after the change must be refused.
"""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import select

from app.auth.models import User
from app.extensions import db

BOUND_S = 1.0
TTL_S = 0.5  # AUTH_CACHE_SECONDS of both apps


@pytest.fixture
def workers(make_app):
    namespace = f"cache-{uuid.uuid4().hex[:10]}"
    cfg = {"KEY_NAMESPACE": namespace, "RATELIMIT_DEFAULT": "100000 per hour", "AUTH_CACHE_SECONDS": TTL_S}
    return make_app(**cfg), make_app(**cfg)


def _refused_within(client, path: str, headers: dict, status: int, changed_at: float) -> float:  # noqa: ANN001
    """Every request that starts AUTH_CACHE_SECONDS after the change must see it (B's cached
    answers were all loaded before the change, so none outlives that); returns that delay.

    Measured from each request's start, so a busy machine's slow requests cannot fail it."""
    deadline = changed_at + TTL_S
    while True:
        started = time.monotonic()
        code = client.get(path, headers=headers).status_code
        if started >= deadline:
            assert code == status, (code, started - changed_at)
            return TTL_S
        assert started - changed_at < 60, "the change never reached the other worker"


def test_logout_on_one_worker_is_refused_by_the_other_within_a_second(workers, sign_in) -> None:
    a, b = workers
    client_a, headers = sign_in(a)
    client_b = b.test_client()
    assert client_b.get("/auth/me", headers=headers).status_code == 200  # B has it cached now
    assert client_a.post("/auth/logout", headers=headers).status_code == 200
    changed_at = time.monotonic()
    assert client_a.get("/auth/me", headers=headers).status_code == 401  # A: at once
    assert _refused_within(client_b, "/auth/me", headers, 401, changed_at) < BOUND_S


def test_demotion_on_one_worker_is_enforced_by_the_other_within_a_second(workers, sign_in) -> None:
    a, b = workers
    _, headers = sign_in(a, role="admin")
    client_b = b.test_client()
    assert client_b.get("/admin/users", headers=headers).status_code == 200
    with a.app_context():
        user = db.session.scalar(select(User).where(User.role == "admin").order_by(User.id.desc()))
        user.role = "user"
        db.session.commit()
    changed_at = time.monotonic()
    assert a.test_client().get("/admin/users", headers=headers).status_code == 403  # A: at once
    assert _refused_within(client_b, "/admin/users", headers, 403, changed_at) < BOUND_S


def test_deactivation_on_one_worker_is_enforced_by_the_other_within_a_second(workers, sign_in) -> None:
    a, b = workers
    _, headers = sign_in(a)
    client_b = b.test_client()
    assert client_b.get("/auth/me", headers=headers).status_code == 200
    with a.app_context():
        user = db.session.scalar(select(User).order_by(User.id.desc()))
        user.active = False
        db.session.commit()
    changed_at = time.monotonic()
    assert _refused_within(client_b, "/auth/me", headers, 401, changed_at) < BOUND_S
