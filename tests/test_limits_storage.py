"""The embedded rate-limit storage (app/ratelimit_storage.py): one counter for every worker.

Two apps on one counter file stand for two gunicorn workers of `make run` (no Redis): a user's
limit is spent across both, and the X-RateLimit headers report the shared count.
"""

from __future__ import annotations

import time

import pytest

from app.ratelimit_storage import SqliteLimitsStorage
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
