"""Requests predicting at the same moment share one model call and one commit
(app/predict/combine.py): each gets its own answer, a failure reaches every request of its batch
and no other, and the next request leads when the leader is done."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.predict.combine import Combiner, Job
from app.predict.models import Prediction
from app.predict.service import combiner
from tests.factories import digit_photo, post_predict
from tests.polling import poll

N = 4


def _run_concurrently(comb: Combiner, payloads: list[int], results: dict, errors: dict) -> list:
    def one(p: int) -> None:
        try:
            results[p] = comb.submit(Job(p))
        except Exception as exc:  # noqa: BLE001 - recorded for the assertions
            errors[p] = exc

    threads = [threading.Thread(target=one, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    return threads


def test_requests_that_arrive_while_one_is_answered_share_the_next_batch():
    gate, batches, running = threading.Event(), [], []

    def answer(jobs: list[Job]) -> None:
        running.append(1)
        assert len(running) == 1  # one batch at a time
        batches.append([j.payload for j in jobs])
        if len(batches) == 1:
            gate.wait(timeout=30)  # the first leader is busy: the others queue behind it
        for j in jobs:
            j.result = j.payload * 10
        running.pop()

    comb = Combiner(answer)
    results: dict = {}
    errors: dict = {}
    first = _run_concurrently(comb, [0], results, errors)
    poll(lambda: len(batches), lambda n: n == 1, timeout=10)
    rest = _run_concurrently(comb, list(range(1, N)), results, errors)
    # Not answered yet: queued behind the busy leader.
    poll(lambda: len(comb._queue), lambda n: n == N - 1, timeout=10)
    assert results == {}
    gate.set()
    for t in first + rest:
        t.join(timeout=30)
    assert not errors
    assert {p: results.get(p) for p in range(N)} == {p: p * 10 for p in range(N)}
    assert batches[0] == [0] and sorted(batches[1]) == [1, 2, 3]  # a queued request led the second
    assert (comb.batches, comb.jobs) == (2, N)
    assert comb.submit(Job(7)) == 70  # idle again: a lone request leads itself


def test_a_failed_batch_fails_each_of_its_requests_and_no_other():
    def answer(jobs: list[Job]) -> None:
        if any(j.payload < 0 for j in jobs):
            raise RuntimeError("commit failed")
        for j in jobs:
            j.result = j.payload

    comb = Combiner(answer)
    with pytest.raises(RuntimeError, match="commit failed"):
        comb.submit(Job(-1))
    assert comb.submit(Job(5)) == 5  # the combiner is free again


@pytest.mark.usefixtures("models")
def test_concurrent_requests_each_get_their_own_stored_row(app, user_headers):
    headers = user_headers
    before = combiner_counts(app)
    answers: list = []

    def one(i: int) -> None:
        with app.test_client() as client:
            answers.append(post_predict(client, headers, digit_photo(i), "v2"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert [r.status_code for r in answers] == [200] * 8
    ids = {r.get_json()["prediction_id"] for r in answers}
    assert len(ids) == 8
    with app.app_context():
        stored = db.session.scalar(select(func.count()).where(Prediction.id.in_(ids)))
    assert stored == 8
    after = combiner_counts(app)
    if db_is_sqlite(app):  # SQLite requests are answered alone (combine.py says why)
        assert before is None and after is None
    else:
        assert after[1] - before[1] == 8 and 1 <= after[0] - before[0] <= 8


def db_is_sqlite(app) -> bool:  # noqa: ANN001
    with app.app_context():
        return db.engine.dialect.name == "sqlite"


def combiner_counts(app) -> tuple[int, int] | None:  # noqa: ANN001
    with app.app_context():
        comb = combiner()
        return None if comb is None else (comb.batches, comb.jobs)
