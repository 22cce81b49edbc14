"""app/predict/rows.py's insert_and_commit: on PostgreSQL the INSERTs and the COMMIT go in one
psycopg pipeline and the ids are read after it; on SQLite one INSERT per row. Either way each row
gets its own id, and a failure stores nothing and leaves the session usable."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from app.extensions import db
from app.predict import rows as rows_module
from app.predict.models import Prediction
from app.predict.rows import insert_and_commit
from app.timeutil import utcnow


def _row(user_id: int, n: int, **changes) -> Prediction:  # noqa: ANN003
    image = bytes([n % 256]) * 784
    fields = {
        "user_id": user_id,
        "model_name": "digit-classifier",
        "model_alias": "v2",
        "model_version": "1",
        "predicted": n % 10,
        "probability": 0.5,
        "probabilities": [0.05] * 10,
        "image": image,
        "image_sha256": hashlib.sha256(image + bytes([n])).hexdigest(),
        "latency_ms": float(n),
        "ood": False,
        "ood_score": 1.0,
        "created_at": utcnow(),
        **changes,
    }
    return Prediction(**fields)


def _count() -> int:
    return db.session.scalar(select(func.count(Prediction.id)))


def test_each_row_gets_its_own_id_in_order(app, make_user):
    user_id = make_user()["id"]
    with app.app_context():
        if db.engine.dialect.name == "postgresql":  # the one-round-trip path, not the fallback
            assert rows_module._pipelines(db.session.connection().connection.driver_connection)
        rows = [_row(user_id, n) for n in range(7)]
        insert_and_commit(rows, [])
        ids = [r.id for r in rows]
        assert len(set(ids)) == 7 and None not in ids
        db.session.expire_all()
        for row in rows:
            stored = db.session.get(Prediction, row.id)
            assert (stored.image_sha256, stored.latency_ms) == (row.image_sha256, row.latency_ms)


def test_a_failed_insert_stores_nothing_and_the_session_goes_on(app, make_user):
    user_id = make_user()["id"]
    with app.app_context():
        before = _count()
        rows = [_row(user_id, 1), _row(user_id, 2, model_name=None), _row(user_id, 3)]  # NOT NULL
        with pytest.raises(IntegrityError):  # raised as SQLAlchemy's statements raise it
            try:
                insert_and_commit(rows, [])
            except BaseException:
                db.session.rollback()  # as service._store does
                raise
        assert _count() == before
        again = [_row(user_id, 4)]
        insert_and_commit(again, [])
        assert _count() == before + 1 and db.session.get(Prediction, again[0].id) is not None


@pytest.mark.postgres
def test_a_connection_lost_mid_write_is_a_503_kind_of_error_and_is_replaced(app, make_user):
    import psycopg

    user_id = make_user()["id"]
    with app.app_context():
        pid = db.session.scalar(text("SELECT pg_backend_pid()"))
        url = db.engine.url.set(drivername="postgresql")
        with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(OperationalError) as lost:  # app/errors.py answers it with 503
            try:
                insert_and_commit([_row(user_id, 5)], [])
            except BaseException:
                db.session.rollback()
                raise
        assert lost.value.connection_invalidated
        again = [_row(user_id, 6)]
        insert_and_commit(again, [])  # a fresh connection from the pool
        assert db.session.get(Prediction, again[0].id) is not None
