"""Issue 13, item 3: feedback not tied to the poster's own stored prediction must not move the
report, the A/B bandit or the retraining data."""

from __future__ import annotations

import pytest

from tests.factories import holdout_digit, mnist_as_photo, predict_ok

pytestmark = pytest.mark.usefixtures("models")

UPLOAD = mnist_as_photo(holdout_digit(21)[0])


def _bearer(tokens: dict) -> dict:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def _predict(client, headers) -> dict:
    return predict_ok(client, headers, UPLOAD)


def test_legacy_and_foreign_feedback_never_move_the_report_ab_or_training(app, client, make_user, login):
    from app.ab.service import arm_feedback_counts

    honest = _bearer(login(make_user()))
    attacker = _bearer(login(make_user()))
    admin = _bearer(login(make_user(role="admin")))
    pred = _predict(client, honest)
    pid = pred["prediction_id"]
    ok = client.post("/feedback", headers=honest, json={"prediction_id": pid, "correct": True})
    assert ok.status_code == 201 and ok.get_json()["counted"] is True
    before = client.get("/admin/report", headers=admin).get_json()
    assert before["total_feedback"] == 1 and before["correct"] == 1

    # The attack of the issue: 40 legacy verdicts "the model said 1, it was a 7".
    for _ in range(40):
        legacy = {"prediction": 1, "correct": False, "label": 7}
        resp = client.post("/feedback", headers=attacker, json=legacy)
        assert resp.status_code == 201
        assert resp.get_json()["counted"] is False and "not counted" in resp.get_json()["message"]
    # ... and a verdict on someone else's prediction, by an ordinary user and by an admin.
    for headers in (attacker, admin):
        resp = client.post(
            "/feedback",
            headers=headers,
            json={"prediction_id": pid, "correct": False, "label": (pred["prediction"] + 1) % 10},
        )
        assert resp.status_code == 403

    after = client.get("/admin/report", headers=admin).get_json()
    for key in ("total_feedback", "correct", "incorrect", "accuracy", "per_version", "confusion_matrix"):
        assert after[key] == before[key], key
    with app.app_context():
        from app.retrain.runner import feedback_examples

        _X, y, ids, _times = feedback_examples()
        assert list(y) == [pred["prediction"]] and ids == [ok.get_json()["id"]]
        assert sum(ok_ + bad for ok_, bad in arm_feedback_counts("v1-vs-v2").values()) <= 1
