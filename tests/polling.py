"""Bounded polling for background work (never a fixed sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(
    fetch: Callable[[], T], done: Callable[[T], bool], timeout: float = 120.0, interval: float = 0.05
) -> T:
    """Call `fetch` until `done(value)` or the timeout; return the last value or fail."""
    deadline = time.monotonic() + timeout
    value = fetch()
    while not done(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        time.sleep(interval)
        value = fetch()
    return value
