"""The embedded rate-limit storage (app/ratelimit_storage.py): one counter for every worker.

Two apps on one counter file stand for two gunicorn workers of `make run` (no Redis): a user's
limit is spent across both, and the X-RateLimit headers report the shared count.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

import pytest

from app.ratelimit_storage import (
    RedisWindowStorage,
    SqliteLimitsStorage,
    begin_own_hits,
    end_own_hits,
    window_storage_uri,
)
from tests.factories import holdout_digit, mnist_as_photo, post_predict


def test_counts_expire_and_are_shared_between_instances(tmp_path) -> None:
    uri = f"sqlite-limits://{tmp_path / 'limits.db'}"
    one, two = SqliteLimitsStorage(uri), SqliteLimitsStorage(uri)
    assert one.incr("k", 60) == 1
    assert two.incr("k", 60) == 2
    assert one.get("k") == two.get("k") == 2
    assert time.time() < one.get_expiry("k") <= time.time() + 60
    assert one.incr("short", 1) == 1
    deadline = time.monotonic() + 10
    while two.get("short") and time.monotonic() < deadline:
        time.sleep(0.05)  # poll interval of a bounded wait for the 1 s window to end
    assert two.get("short") == 0 and two.incr("short", 1) == 1  # a new window
    two.clear("k")
    assert one.get("k") == 0 and one.check()


@pytest.mark.usefixtures("models")
def test_two_workers_share_one_users_prediction_limit(make_app, sign_in, tmp_path) -> None:
    uri = f"sqlite-limits://{tmp_path / 'limits.db'}"
    namespace = "shared-limits"
    cfg = {"RATELIMIT_STORAGE_URI": uri, "KEY_NAMESPACE": namespace, "PREDICT_V2_LIMIT": "3 per day"}
    a, b = make_app(**cfg), make_app(**cfg)
    client_a, headers = sign_in(a)
    client_b = b.test_client()
    png = mnist_as_photo(holdout_digit(0)[0])

    def predict(client):  # noqa: ANN001, ANN202
        return post_predict(client, headers, png)

    answers = [predict(c) for c in (client_a, client_b, client_a, client_b)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers.get("X-RateLimit-Remaining") for r in answers[:3]] == ["2", "1", "0"]


def _hit_elsewhere(storage, key: str) -> int:  # noqa: ANN001
    """A hit from another thread: outside this request, as another worker's would be."""
    out = []
    thread = threading.Thread(target=lambda: out.append(storage.incr(key, 60)))
    thread.start()
    thread.join(timeout=30)
    return out[0]


def _own_hit_answers_the_header_reads(worker, other, key: str) -> None:  # noqa: ANN001
    begin_own_hits()
    try:
        assert worker.incr(key, 60) == 1
        expiry = worker.get_expiry(key)
        assert time.time() < expiry <= time.time() + 61
        assert _hit_elsewhere(other, key) == 2
        # This request's X-RateLimit-* reads: what its own hit returned, no storage round trip.
        assert worker.get(key) == 1 and worker.get_expiry(key) == expiry
        assert worker.get(f"{key}-untouched") == 0
    finally:
        end_own_hits()
    assert worker.get(key) == other.get(key) == 2  # outside a request: the stored count
    begin_own_hits()
    try:
        assert worker.incr(key, 60) == 3
        worker.clear(key)  # a cleared key is not answered from a remembered hit
        assert worker.get(key) == 0
    finally:
        end_own_hits()


def test_sqlite_storage_answers_a_requests_reads_from_its_own_hit(tmp_path) -> None:
    uri = f"sqlite-limits://{tmp_path / 'limits.db'}"
    _own_hit_answers_the_header_reads(SqliteLimitsStorage(uri), SqliteLimitsStorage(uri), "k")


@pytest.mark.redis
def test_redis_storage_answers_a_requests_reads_from_its_own_hit() -> None:
    from limits.storage import storage_from_string

    uri = window_storage_uri(os.environ["REDIS_URL"])
    worker, other = storage_from_string(uri), storage_from_string(uri)
    assert isinstance(worker, RedisWindowStorage)
    key = f"own-hits-{uuid.uuid4().hex}"
    try:
        _own_hit_answers_the_header_reads(worker, other, key)
    finally:
        worker.clear(key)


def test_only_plain_redis_urls_get_the_window_storage() -> None:
    assert window_storage_uri("redis://h:6379/2") == "redis+window://h:6379/2"
    assert window_storage_uri("rediss://:pw@h/0") == "rediss+window://:pw@h/0"
    for other in ("memory://", "sqlite-limits:///dev/shm/x.db", "redis+unix:///tmp/r.sock", "memcached://h"):
        assert window_storage_uri(other) == other
