"""Schema fuzzing: schemathesis against /openapi.json of the in-process app, as a user and as an admin.

Every operation, positive and negative generation, checks not_a_server_error,
response_schema_conformance and status_code_conformance. Target: no failure at all.

POST /admin/retrain is fuzzed too, but the app's MLFLOW_TRACKING_URI is pointed (after start-up,
so requests are still validated against the real registry) at an empty store: an accepted retrain
fails fast instead of training, and the one-job lock turns the rest into 409s.
"""

from __future__ import annotations

import collections
import os
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from sqlalchemy import select

from app.extensions import db
from app.retrain.models import ACTIVE_STATUSES, RetrainJob
from tests.polling import poll

pytestmark = pytest.mark.usefixtures("models")

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
PASSWORD = "fuzz-password-1"
SESSION_ENDING = {"/auth/logout", "/auth/logout-all", "/auth/password", "/admin/users/{user_id}"}


def _examples(default: int) -> int:
    return int(os.environ.get("FUZZ_EXAMPLES", default))


@pytest.fixture
def fuzz_app(make_app, tmp_path):
    app = make_app(RATELIMIT_ENABLED=False, RETRAIN_DATA_LIMIT=200)
    from app.auth.services import create_user

    with app.app_context():
        create_user("fuzz-user", PASSWORD)
        create_user("fuzz-admin", PASSWORD, role="admin")
    # Retrains started by the fuzzer resolve their base in an empty store and fail at once.
    app.config["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'empty-store' / 'mlflow.db'}"
    yield app
    # No retrain thread may outlive the test (the fixture empties the tables next).
    with app.app_context():
        poll(
            lambda: db.session.scalar(
                select(RetrainJob.id).where(RetrainJob.status.in_(ACTIVE_STATUSES)).limit(1)
            ),
            lambda active: active is None,
            timeout=60,
        )
        db.session.remove()


def _token(app, username: str) -> str:
    resp = app.test_client().post("/login", json={"username": username, "password": PASSWORD})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["access_token"]


def _fuzz(app, examples: int) -> tuple[dict, collections.Counter]:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    failures: dict[tuple, list[str]] = collections.defaultdict(list)
    statuses: collections.Counter = collections.Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20, [op.path for op in operations]
    # Operations that end the caller's sessions (logout, log out everywhere, a password change, an
    # admin disabling the other fuzz account) go last, and each pass signs in afresh: otherwise the
    # rest of the pass would only see 401s.
    operations.sort(key=lambda op: op.path in SESSION_ENDING)
    for role in ("user", "admin"):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            token = _token(app, f"fuzz-{role}")
            for op in operations:
                run = _runner(op, mode, examples, token, (role, mode.value, op.method.upper(), op.path))
                try:
                    run(failures, statuses)
                except Unsatisfiable:
                    pass  # e.g. no negative case exists for an operation without parameters
    return failures, statuses


def _runner(op, mode: GenerationMode, examples: int, token: str, key: tuple):  # noqa: ANN202
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=op.as_strategy(generation_mode=mode))
    def run(failures: dict, statuses: collections.Counter, case) -> None:  # noqa: ANN001
        try:
            resp = case.call(headers={"Authorization": f"Bearer {token}"})
            statuses[resp.status_code // 100 * 100] += 1
            case.validate_response(resp, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect, report them all
            failures[key].append(str(exc)[:1500])

    return run


def _report(failures: dict) -> str:
    lines = []
    for key, messages in failures.items():
        lines.append(f"{key}: {len(messages)} failure(s); first:\n{messages[0]}")
    return "\n\n".join(lines)


def test_openapi_fuzz_no_server_errors_no_schema_violations(fuzz_app):
    started = time.monotonic()
    failures, statuses = _fuzz(fuzz_app, _examples(12))
    assert not failures, _report(failures)
    assert statuses[500] == 0
    # The run did exercise the API: successes and refusals both.
    assert statuses[200] >= 15 and statuses[400] > 300, statuses
    took = time.monotonic() - started
    print(f"schema fuzz: {sum(statuses.values())} requests {dict(statuses)} in {took:.0f}s")


@pytest.mark.slow
def test_openapi_fuzz_full_size(fuzz_app):
    failures, statuses = _fuzz(fuzz_app, _examples(100))
    assert not failures, _report(failures)
    print(f"schema fuzz (full): {sum(statuses.values())} requests {dict(statuses)}")


# --- regression tests for what the fuzzer found ---------------------------------------------


def test_health_responses_are_documented(client):
    """Bug: /health and /health/ready had no documented 200 body, so the only schema the document
    gave for them was the error `default`, which their answers violated."""
    spec = client.get("/openapi.json").get_json()
    for path, codes in (("/health", {"200"}), ("/health/ready", {"200", "503"})):
        responses = spec["paths"][path]["get"]["responses"]
        assert codes <= set(responses), (path, responses)
    ready = spec["paths"]["/health/ready"]["get"]["responses"]["503"]["content"]["application/json"]
    assert ready["schema"]["$ref"].endswith("/Ready")


def test_datetimes_are_rfc3339_with_an_offset(client, user_headers):
    """Bug: naive UTC datetimes were sent as '2026-01-01T12:00:00.123456' (no offset), which is not
    the RFC 3339 `date-time` the schema promises; now they carry +00:00."""
    created = client.get("/auth/me", headers=user_headers).get_json()["created_at"]
    assert created.endswith("+00:00"), created


def test_values_the_database_refuses_are_422_not_500(client, user_headers, admin_headers):
    """Bug (PostgreSQL): a NUL character in any text value, or a page number past bigint, made the
    database raise DataError, answered as a 500 with a traceback in the log. Now 422 (SQLite stores
    NUL happily, so there the requests are simply answered)."""
    login = client.post("/login", json={"username": "nul\x00user", "password": "whatever-pass"})
    assert login.status_code in (401, 422), login.get_json()
    feedback = client.post(
        "/feedback", headers=user_headers, json={"prediction": 3, "correct": True, "comment": "a\x00b"}
    )
    assert feedback.status_code in (201, 422), feedback.get_json()
    report = client.get("/admin/report", headers=admin_headers, query_string={"experiment": "x\x00y"})
    assert report.status_code in (200, 422), report.get_json()
    # Bug (both databases): page=10**19 overflowed the OFFSET (SQLite: OverflowError, a 500).
    for path in ("/admin/users", "/feedback", "/admin/retrain"):
        huge = client.get(path, headers=admin_headers, query_string={"page": 10**19})
        assert huge.status_code == 422, (path, huge.get_json())
        assert "page" in huge.get_json()["error"]["details"]["query"]
    for resp in (login, feedback, report):
        if resp.status_code == 422:
            assert resp.get_json()["error"]["code"] in ("invalid_value", "unprocessable_entity")
