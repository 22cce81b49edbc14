"""Bounded polling for background work (never a fixed sleep).

The interval backs off (doubling up to `max_interval`): a quick result is seen quickly, and a slow
one on a busy machine does not turn the poll into a stream of requests that runs into the rate
limits of the endpoint being polled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def poll(
    fetch: Callable[[], T],
    done: Callable[[T], bool],
    timeout: float = 120.0,
    interval: float = 0.05,
    max_interval: float = 1.0,
) -> T:
    """Call `fetch` until `done(value)` or the timeout; return the last value or fail.

    Waits `interval`, then twice that each time, never more than `max_interval` between calls."""
    deadline = time.monotonic() + timeout
    value = fetch()
    while not done(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        time.sleep(interval)
        interval = min(interval * 2, max(max_interval, interval))  # 0 stays 0: no sleep
        value = fetch()
    return value


def json_ok(resp: Any) -> Any:
    """The JSON body of a 200 answer (Flask test response or requests.Response); anything else fails
    with the status and body, not with a KeyError on an error body."""
    status = getattr(resp, "status_code", None)
    body = resp.get_json() if hasattr(resp, "get_json") else resp.json()
    assert status == 200, f"expected 200 while polling, got {status}: {body!r}"
    return body
