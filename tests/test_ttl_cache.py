"""The per-process auth/A-B cache loads each key once at a time: requests that miss while a load
is under way take its answer instead of repeating the query (no stampede at each expiry)."""

from __future__ import annotations

import threading

import pytest

from app.auth.cache import TtlCache
from tests.polling import poll

CALLERS = 8


def _crowd(cache: TtlCache, load, keep=None) -> tuple[list, list[BaseException], list[threading.Thread]]:  # noqa: ANN001
    """CALLERS threads asking for one key at once; their answers and errors."""
    answers: list = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            answers.append(cache.get("k", load, keep))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertions
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(CALLERS)]
    for t in threads:
        t.start()
    return answers, errors, threads


def _gated_load(fail_first: bool = False):  # noqa: ANN202
    """A load that blocks until released (the database round trip), counting its calls."""
    calls, started, release = [], threading.Event(), threading.Event()

    def load() -> str:
        calls.append(1)
        started.set()
        release.wait(30)
        if fail_first and len(calls) == 1:
            raise ConnectionError("database went away")
        return "row"

    return load, calls, started, release


def _finish(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)


def test_concurrent_misses_share_one_load() -> None:
    cache = TtlCache(60)
    load, calls, started, release = _gated_load()
    answers, errors, threads = _crowd(cache, load)
    poll(lambda: started.is_set(), bool, timeout=30)  # the first miss is loading
    release.set()
    _finish(threads)
    assert errors == [] and answers == ["row"] * CALLERS
    assert len(calls) == 1
    assert cache.get("k", lambda: pytest.fail("cached: no load")) == "row"


def test_a_failed_load_fails_its_own_request_and_the_others_load_themselves() -> None:
    cache = TtlCache(60)
    load, calls, started, release = _gated_load(fail_first=True)
    answers, errors, threads = _crowd(cache, load)
    poll(lambda: started.is_set(), bool, timeout=30)
    release.set()
    _finish(threads)
    assert len(errors) == 1 and isinstance(errors[0], ConnectionError)
    assert answers == ["row"] * (CALLERS - 1)  # nobody hung, nobody got the error twice
    assert 2 <= len(calls) <= CALLERS


def test_an_answer_not_kept_is_loaded_by_each_request() -> None:
    cache = TtlCache(60)
    load, calls, started, release = _gated_load()
    answers, errors, threads = _crowd(cache, load, keep=lambda _v: False)
    poll(lambda: started.is_set(), bool, timeout=30)
    release.set()
    _finish(threads)
    assert errors == [] and answers == ["row"] * CALLERS
    assert len(calls) == CALLERS  # e.g. the session check: its default False is never kept


def test_a_revocation_made_during_a_load_is_not_overwritten_by_it() -> None:
    """This process revokes a token while another request's lookup (begun before) still runs: the
    lookup's stale "not revoked" must not replace the revocation, for this or waiting requests."""
    cache = TtlCache(60)
    calls, started, release = [], threading.Event(), threading.Event()

    def load() -> bool:
        calls.append(1)
        started.set()
        release.wait(30)
        return False  # what the database said before the revocation committed

    answers, errors, threads = _crowd(cache, load)
    poll(lambda: started.is_set(), bool, timeout=30)
    cache.put("k", True, 3600)  # revoke_token's own note, as the revocation commits
    release.set()
    _finish(threads)
    assert errors == [] and len(calls) == 1
    assert answers.count(False) <= 1  # only the request whose lookup began before the revocation
    assert cache.get("k", lambda: pytest.fail("the revocation is cached")) is True
    cache.discard("k")  # likewise a user row changed during a load: the next request reloads
    assert cache.get("k", lambda: "reloaded") == "reloaded"


def test_zero_ttl_caches_nothing() -> None:
    cache = TtlCache(0)
    calls = []
    for _ in range(3):
        assert cache.get("k", lambda: calls.append(1) or "row") == "row"
    assert len(calls) == 3
