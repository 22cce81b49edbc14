"""Clean labels (issue 14): suspicious verdicts wait for an admin; rejected ones never train and
count nowhere, accepted ones train; one user contributes at most FEEDBACK_USER_CAP labels to a
retrain."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from app.ab.service import arm_feedback_counts
from app.retrain.runner import feedback_examples
from tests.conftest import TEMPLATE_LIMIT
from tests.factories import (
    bearer,
    give_verdict,
    holdout_digit,
    mnist_as_photo,
    predict_ok,
    sign_in,
    store_prediction,
)
from tests.polling import json_ok, poll

CAP = 6


@pytest.fixture
def rv_app(make_app, store_uri):
    return make_app(
        MLFLOW_TRACKING_URI=store_uri,
        RETRAIN_DATA_LIMIT=TEMPLATE_LIMIT,
        RETRAIN_PROMOTION_MARGIN=-1.0,
        RATELIMIT_DEFAULT="10000 per hour",
        PREDICT_V1_LIMIT="10000 per day",
        FEEDBACK_USER_CAP=CAP,
    )


@pytest.fixture
def new_user(rv_app):
    """new_user(role="user") -> (test client, headers, user id) of a fresh, signed-in user."""
    from app.auth.services import create_user

    def make(role: str = "user") -> tuple:
        name = f"u{uuid.uuid4().hex[:10]}"
        with rv_app.app_context():
            create_user(name, "correct-horse-1", role=role)
        client = rv_app.test_client()
        body = sign_in(client, name)
        return client, bearer(body["access_token"]), body["user"]["id"]

    return make


def _queue(client, headers, status: str = "pending", page_size: int = 200) -> dict:
    return json_ok(client.get(f"/admin/review?status={status}&page_size={page_size}", headers=headers))


def _decide(client, headers, feedback_id: int, decision: str):
    return client.post(f"/admin/review/{feedback_id}", headers=headers, json={"decision": decision})


def test_confident_contradiction_is_flagged_and_a_new_verdict_reevaluates(rv_app, new_user):
    client, headers, user_id = new_user()
    admin_client, admin, _ = new_user("admin")
    pixels, label = holdout_digit(0)
    pred = predict_ok(client, headers, mnist_as_photo(pixels), "v1")
    # The threshold at exactly this prediction's probability: a "wrong" verdict on it is confident.
    rv_app.config["REVIEW_CONFIDENCE"] = pred["probability"]
    wrong = (pred["prediction"] + 1) % 10
    body = give_verdict(client, headers, pred["prediction_id"], pred["prediction"], wrong)
    assert body["review"] == "pending" and body["review_reason"] == "confident_contradiction"
    assert body["counted"] is True and body["usable_for_training"] is False
    assert "waits for an admin's review" in body["message"]

    queue = _queue(admin_client, admin)
    assert [item["id"] for item in queue["items"]] == [body["id"]]
    item = queue["items"][0]
    assert item["user_id"] == user_id and item["label"] == wrong and item["predicted"] == pred["prediction"]
    assert item["probability"] == pytest.approx(pred["probability"])
    assert item["image"].startswith("data:image/png;base64,")

    # Agreeing with the same confident prediction is no contradiction: the flag goes.
    body = give_verdict(client, headers, pred["prediction_id"], pred["prediction"], pred["prediction"])
    assert body["replaced"] is True and body["review"] == "none" and body["review_reason"] is None
    assert _queue(admin_client, admin)["total"] == 0

    # Below the threshold a contradiction is not flagged (few verdicts: no outlier either).
    rv_app.config["REVIEW_CONFIDENCE"] = 0.95
    pid = store_prediction(rv_app, user_id, predicted=3, probability=0.9)
    assert give_verdict(client, headers, pid, 3, 5)["review"] == "none"


def test_outlier_user_is_flagged_and_normal_users_are_not(rv_app, new_user):
    admin_client, admin, _ = new_user("admin")
    normal_ids: list[int] = []
    # Four ordinary users: 2 disagreements in 20 verdicts each (10 %).
    for _ in range(4):
        client, headers, user_id = new_user()
        for i in range(20):
            pid = store_prediction(rv_app, user_id, predicted=i % 10)
            label = (i + 1) % 10 if i in (4, 13) else i % 10
            normal_ids.append(give_verdict(client, headers, pid, i % 10, label)["id"])
    # One user who disagrees with everything.
    client, headers, user_id = new_user()
    answers = []
    for i in range(12):
        pid = store_prediction(rv_app, user_id, predicted=i % 10)
        answers.append(give_verdict(client, headers, pid, i % 10, (i + 2) % 10))
    # Below REVIEW_MIN_VERDICTS (10) nobody is an outlier yet; from the 10th verdict on they are.
    assert [a["review"] for a in answers[:9]] == ["none"] * 9
    assert all(a["review"] == "pending" and a["review_reason"] == "outlier_user" for a in answers[9:])

    queue = _queue(admin_client, admin)
    # ... and the earlier disagreements of the outlier were queued with the 10th.
    assert sorted(item["id"] for item in queue["items"]) == sorted(a["id"] for a in answers)
    assert not set(normal_ids) & {item["id"] for item in queue["items"]}
    assert {item["review_reason"] for item in queue["items"]} == {"outlier_user"}


def test_without_other_users_to_compare_with_nobody_is_an_outlier(rv_app, new_user):
    client, headers, user_id = new_user()
    for i in range(12):
        pid = store_prediction(rv_app, user_id, predicted=i % 10)
        assert give_verdict(client, headers, pid, i % 10, (i + 2) % 10)["review"] == "none"


def _confident_mistakes(rv_app, client, headers, user_id: int, indices: range) -> list[dict]:
    """The user corrects confident wrong answers on real holdout digits: each verdict is queued."""
    out = []
    for index in indices:
        pixels, label = holdout_digit(index)
        wrong = (label + 1) % 10
        pid = store_prediction(rv_app, user_id, predicted=wrong, probability=0.99, pixels=pixels)
        body = give_verdict(client, headers, pid, wrong, label)
        assert body["review"] == "pending", body
        out.append(body)
    return out


def _retrain_feedback_ids(client, headers, store_uri: str) -> tuple[dict, set[int]]:
    resp = client.post("/admin/retrain", headers=headers, json={"base": "v1"})
    assert resp.status_code == 202, resp.get_json()
    job = poll(
        lambda: json_ok(client.get(f"/admin/retrain/{resp.get_json()['job_id']}", headers=headers)),
        lambda job: job["status"] in ("succeeded", "failed", "rejected"),
        timeout=180,
    )
    assert job["status"] == "succeeded", job
    ml = MlflowClient(store_uri, registry_uri=store_uri)
    used = json.loads(Path(ml.download_artifacts(job["mlflow_run_id"], "feedback_ids.json")).read_text())
    return job, set(used["train"]) | set(used["eval"])


def test_review_decides_what_trains_and_counts_and_the_user_cap(rv_app, new_user, store_uri):
    admin_client, admin, _ = new_user("admin")
    # A heavy user: CAP + 4 plain verdicts; only their newest CAP may train.
    client, headers, user_id = new_user()
    heavy = []
    for index in range(100, 100 + CAP + 4):
        pixels, label = holdout_digit(index)
        pid = store_prediction(rv_app, user_id, predicted=label, pixels=pixels)
        heavy.append(give_verdict(client, headers, pid, label, label)["id"])
    # Another user's three confident contradictions: one accepted, one rejected, one left pending.
    client, headers, user_id = new_user()
    accepted, rejected, pending = _confident_mistakes(rv_app, client, headers, user_id, range(200, 203))
    body = _decide(admin_client, admin, accepted["id"], "accept").get_json()
    assert body["review"] == "accepted" and body["reviewed_by"] is not None and body["reviewed_at"]
    assert _decide(admin_client, admin, rejected["id"], "reject").get_json()["review"] == "rejected"
    assert [i["id"] for i in _queue(admin_client, admin)["items"]] == [pending["id"]]
    assert _queue(admin_client, admin, "rejected")["items"][0]["id"] == rejected["id"]
    assert _queue(admin_client, admin, "all")["total"] == 3

    expected = set(heavy[-CAP:]) | {accepted["id"]}
    with rv_app.app_context():
        assert set(feedback_examples(CAP)[2]) == expected
        assert set(feedback_examples(0)[2]) == set(heavy) | {accepted["id"]}  # 0: no cap
        # The bandit: pending and accepted verdicts count, the rejected one does not; the heavy
        # user weighs CAP verdicts there too (their first CAP, app/feedback/capped.py).
        assert sum(ok + bad for ok, bad in arm_feedback_counts("v1-vs-v2").values()) == CAP + 2
    report = json_ok(admin_client.get("/admin/report", headers=admin))
    assert report["total_feedback"] == CAP + 2 and report["incorrect"] == 2

    job, used = _retrain_feedback_ids(admin_client, admin, store_uri)
    assert used == expected
    assert job["metrics"]["n_feedback_total"] == CAP + 1


def test_review_endpoints_are_admin_only_and_check_their_input(rv_app, new_user):
    client, headers, user_id = new_user()
    admin_client, admin, _ = new_user("admin")
    (flagged,) = _confident_mistakes(rv_app, client, headers, user_id, range(1))
    pid = store_prediction(rv_app, user_id, predicted=4)
    plain = give_verdict(client, headers, pid, 4, 4)

    assert client.get("/admin/review", headers=headers).status_code == 403
    assert _decide(client, headers, flagged["id"], "reject").status_code == 403
    assert client.get("/admin/review").status_code == 401
    assert admin_client.get("/admin/review?status=bogus", headers=admin).status_code == 422
    assert admin_client.get("/admin/review?page=0", headers=admin).status_code == 422
    for body in ({"decision": "maybe"}, {}, {"decision": 1}):
        resp = admin_client.post(f"/admin/review/{flagged['id']}", headers=admin, json=body)
        assert resp.status_code == 422 and resp.is_json
    for missing in (flagged["id"] + plain["id"] + 1000, 2**40):
        resp = _decide(admin_client, admin, missing, "accept")
        assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "feedback_not_found"
    resp = _decide(admin_client, admin, plain["id"], "reject")
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "not_pending"

    assert _decide(admin_client, admin, flagged["id"], "reject").status_code == 200
    assert _decide(admin_client, admin, flagged["id"], "reject").status_code == 200  # a repeat
    resp = _decide(admin_client, admin, flagged["id"], "accept")
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "already_reviewed"
    # The user's own list shows the verdict as rejected: counted nowhere, never trains.
    mine = json_ok(client.get("/feedback", headers=headers))["items"]
    row = next(i for i in mine if i["id"] == flagged["id"])
    assert row["review"] == "rejected" and row["counted"] is False and row["usable_for_training"] is False
