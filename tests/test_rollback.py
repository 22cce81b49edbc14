"""Issue 14 item 4: every alias move is recorded; a rollback walks the history back and is served."""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import select

from app.aliases import move_alias
from app.aliases.models import AliasMove
from app.aliases.service import rollback_lease
from app.extensions import db
from app.ml import registry
from app.notify.models import Delivery
from tests.conftest import TEMPLATE_LIMIT as LIMIT
from tests.factories import correct_mistakes, holdout_digit, mnist_as_photo, predict_ok
from tests.polling import json_ok, poll


@pytest.fixture
def rb_app(make_app, store_uri):
    """An app on a private copy of the bootstrapped template registry (no history yet)."""
    return make_app(MLFLOW_TRACKING_URI=store_uri)


@pytest.fixture
def rb(rb_app, sign_in):
    return sign_in(rb_app, role="admin")


def _history(client, headers, alias: str) -> list[dict]:
    return json_ok(client.get(f"/admin/models/{alias}/history?page_size=200", headers=headers))["items"]


def _rollback(client, headers, alias: str, status: int = 200) -> dict:
    resp = client.post(f"/admin/models/{alias}/rollback", headers=headers)
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()


def test_bootstrap_retrain_and_rollback_are_recorded_and_the_rollback_is_served(make_app, sign_in, tmp_path):
    app = make_app(
        MLFLOW_TRACKING_URI=registry.default_tracking_uri(tmp_path),
        RETRAIN_DATA_LIMIT=LIMIT,
        RETRAIN_PROMOTION_MARGIN=-0.05,
        RATELIMIT_DEFAULT="10000 per hour",
        PREDICT_V1_LIMIT="10000 per day",
    )
    result = app.test_cli_runner().invoke(args=["models", "bootstrap", "--limit", str(LIMIT)])
    assert result.exit_code == 0, result.output
    client, headers = sign_in(app, role="admin")
    boot = _history(client, headers, "v1")
    assert [(m["source"], m["from_version"]) for m in boot] == [("bootstrap", None)]
    first = boot[0]["to_version"]
    assert {m["alias"] for m in json_ok(client.get("/admin/aliases/history", headers=headers))["items"]} == {
        "v1",
        "v2",
        "champion",
    }
    hook = client.post(
        "/admin/webhooks",
        headers=headers,
        json={"url": "https://example.com/hook", "events": ["model.rolled_back"], "secret": "s" * 32},
    )
    assert hook.status_code == 201, hook.get_json()

    # Feedback on holdout digits v1 gets wrong: the retrain is strictly better and promoted.
    assert {body["model_version"] for body in correct_mistakes(client, headers, "v1")} == {first}
    job_id = client.post("/admin/retrain", headers=headers, json={"base": "v1"}).get_json()["job_id"]
    job = poll(
        lambda: json_ok(client.get(f"/admin/retrain/{job_id}", headers=headers)),
        lambda job: job["status"] in ("succeeded", "failed", "rejected"),
        timeout=180,
    )
    assert job["status"] == "succeeded", job
    second = job["registered_version"]
    assert predict_ok(client, headers, mnist_as_photo(holdout_digit(0)[0]), "v1")["model_version"] == second

    moves = _history(client, headers, "v1")
    assert [(m["source"], m["from_version"], m["to_version"]) for m in moves] == [
        ("retrain", first, second),
        ("bootstrap", None, first),
    ]
    assert moves[0]["reason"] == job["decision"] and moves[0]["actor"] is not None

    # The rollback answers both versions, and this process serves the previous one at once.
    body = _rollback(client, headers, "v1")
    assert (body["alias"], body["from_version"], body["to_version"]) == ("v1", second, first)
    assert body["move"]["source"] == "rollback" and body["champion"] is None  # champion is v2's
    assert predict_ok(client, headers, mnist_as_photo(holdout_digit(0)[0]), "v1")["model_version"] == first
    with app.app_context():
        assert (
            registry.registry_aliases(registry.client_for(app.config["MLFLOW_TRACKING_URI"]))["v1"] == first
        )
        events = db.session.scalars(select(Delivery.event).where(Delivery.webhook_id.is_not(None))).all()
        assert events == ["model.rolled_back"]
    assert [m["source"] for m in _history(client, headers, "v1")] == ["rollback", "retrain", "bootstrap"]
    # Nothing before the bootstrap: a further rollback has nowhere to go.
    assert _rollback(client, headers, "v1", 409)["error"]["code"] == "nothing_to_roll_back"


def test_a_second_rollback_goes_back_further_and_the_champion_follows(rb_app, rb):
    client, headers = rb
    with rb_app.app_context():
        for version in ("1", "2", "1"):  # canary: new -> 1 -> 2 -> 1
            move_alias("canary", version, reason="test", source="admin")
    assert _rollback(client, headers, "canary")["to_version"] == "2"  # undoes 2 -> 1
    # The champion is on 2, the version rolled back from: it follows, as it follows a promotion.
    body = _rollback(client, headers, "canary")  # undoes 1 -> 2
    assert (body["from_version"], body["to_version"]) == ("2", "1")
    assert body["champion"]["alias"] == "champion" and body["champion"]["to_version"] == "1"
    # Left: new -> 1. Before it the alias did not exist: nothing to roll back to.
    assert _rollback(client, headers, "canary", 409)["error"]["code"] == "nothing_to_roll_back"
    page = json_ok(client.get("/admin/aliases/history?alias=canary&page_size=2", headers=headers))
    assert page["total"] == 5 and page["pages"] == 3 and len(page["items"]) == 2
    assert [m["source"] for m in page["items"]] == ["rollback", "rollback"]
    assert json_ok(client.get("/admin/aliases/history", headers=headers))["total"] == 6  # + champion


def test_rollback_undoes_a_move_made_outside_the_history(rb_app, rb, store_uri):
    client, headers = rb
    with rb_app.app_context():
        move_alias("v1", "2", reason="try v2's version", source="admin")  # 1 -> 2, recorded
    registry.set_alias(registry.client_for(store_uri), "v1", "1")  # by hand in MLflow: not recorded
    body = _rollback(client, headers, "v1")
    assert (body["from_version"], body["to_version"]) == ("1", "2")  # back to the last recorded
    with rb_app.app_context():
        rows = db.session.scalars(select(AliasMove).order_by(AliasMove.id)).all()
        assert [(r.from_version, r.to_version, r.source) for r in rows] == [
            ("1", "2", "admin"),
            ("1", "2", "rollback"),
        ]


def test_rollback_and_history_errors(rb_app, rb, sign_in):
    client, headers = rb
    # v2 exists but was never moved through the app (bootstrapped without history): nothing known.
    assert _rollback(client, headers, "v2", 409)["error"]["code"] == "nothing_to_roll_back"
    assert _history(client, headers, "v2") == []
    for alias in ("nope", "not an alias", "latest"):
        assert _rollback(client, headers, alias, 404)["error"]["code"] == "alias_not_found"
    resp = client.get("/admin/models/nope/history", headers=headers)
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "alias_not_found"
    assert client.get("/admin/aliases/history?page=0", headers=headers).status_code == 422
    user_client, user_headers = sign_in(rb_app)
    assert user_client.post("/admin/models/v2/rollback", headers=user_headers).status_code == 403
    assert user_client.get("/admin/models/v2/history", headers=user_headers).status_code == 403
    assert user_client.get("/admin/aliases/history", headers=user_headers).status_code == 403
    assert client.post("/admin/models/v2/rollback").status_code == 401
    with rb_app.app_context():
        assert db.session.scalar(select(AliasMove.id)) is None  # no refused request wrote a move
        with pytest.raises(ValueError, match="source"):
            move_alias("v2", "1", reason="x", source="cron")


def _canary_history(app) -> None:
    with app.app_context():
        for version in ("1", "2", "1", "2", "1"):  # canary: new -> 1 -> 2 -> 1 -> 2 -> 1
            move_alias("canary", version, reason="test", source="admin")


def test_a_rollback_while_another_holds_the_alias_is_refused_and_changes_nothing(rb_app, rb, store_uri):
    client, headers = rb
    _canary_history(rb_app)
    with rb_app.app_context(), rollback_lease("canary"):  # another worker's rollback, mid-way
        body = _rollback(client, headers, "canary", 409)
        assert body["error"]["code"] == "rollback_in_progress"
        assert _rollback(client, headers, "v1", 409)["error"]["code"] == "nothing_to_roll_back"  # per alias
    assert len(_history(client, headers, "canary")) == 5  # no row for the refused one
    assert str(registry.get_alias_version(registry.client_for(store_uri), "canary").version) == "1"
    assert _rollback(client, headers, "canary")["to_version"] == "2"  # the lease was given back


def test_concurrent_rollbacks_each_take_their_own_step(rb_app, rb):
    """Six admins press rollback at once: every one answered 200 undid a different move, and the
    history holds exactly one rollback row per 200 (no step recorded twice, none skipped)."""
    client, headers = rb
    _canary_history(rb_app)
    start, answers = threading.Barrier(6), []

    def press() -> None:
        own = rb_app.test_client()
        start.wait(timeout=30)
        resp = own.post("/admin/models/canary/rollback", headers=headers)
        answers.append((resp.status_code, resp.get_json()))

    threads = [threading.Thread(target=press) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(answers) == 6
    done = [(b["from_version"], b["to_version"]) for status, b in answers if status == 200]
    refused = [b["error"]["code"] for status, b in answers if status != 200]
    assert done and set(refused) <= {"rollback_in_progress", "nothing_to_roll_back"}
    # The stack undoes 2 -> 1, 1 -> 2, 2 -> 1, 1 -> 2 in that order: the successes are its first steps.
    assert done == [("1", "2"), ("2", "1"), ("1", "2"), ("2", "1")][: len(done)]
    rows = [m for m in _history(client, headers, "canary") if m["source"] == "rollback"]
    assert len(rows) == len(done)
    # The next rollback continues the same stack.
    expected = {0: "2", 1: "1", 2: "2", 3: "1"}.get(len(done))
    if expected is None:
        assert _rollback(client, headers, "canary", 409)["error"]["code"] == "nothing_to_roll_back"
    else:
        assert _rollback(client, headers, "canary")["to_version"] == expected


def test_admin_page_has_the_history_section_and_its_script(client):
    page = client.get("/admin").get_data(as_text=True)
    assert '<section class="card" id="rollback">' in page and "js/admin_rollback.js" in page
    resp = client.get("/web/static/js/admin_rollback.js")
    source = resp.get_data(as_text=True)
    resp.close()
    assert resp.status_code == 200 and "/admin/aliases/history" in source and "/rollback" in source
    assert not re.search(r"\.(innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write|\beval\(", source)
