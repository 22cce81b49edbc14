"""Shadow scoring and staged rollouts (issue 14 item 3): a candidate shadows an alias, then serves
a canary share, then all of it, and is promoted or rolled back by itself on paired feedback."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient
from sqlalchemy import func, select

from app.extensions import db
from app.feedback.models import Feedback
from app.ml import registry
from app.predict.models import Prediction
from app.rollout.decision import Evidence, decide, e_value
from app.rollout.models import ShadowPrediction
from app.rollout.serving import canary_fraction
from tests.factories import digit_photo, holdout_digit, predict_ok

FAST = {
    "RATELIMIT_DEFAULT": "100000 per hour",
    "PREDICT_V1_LIMIT": "100000 per day",
    "PREDICT_V2_LIMIT": "100000 per day",
    "ROLLOUT_SHADOW_MIN": 20,
    "ROLLOUT_MIN_DISCORDANT": 5,
    "ROLLOUT_CANARY_MIN": 5,
    "ROLLOUT_FULL_MIN": 5,
}
FINAL = ("promoted", "rolled_back", "cancelled")


@pytest.fixture
def ro_app(make_app, store_uri):
    return make_app(MLFLOW_TRACKING_URI=store_uri, **FAST)


@pytest.fixture
def ro(ro_app, sign_in):
    """(client, admin headers, user headers, {alias: version}) on a private registry copy."""
    client, admin = sign_in(ro_app, role="admin")
    _, user = sign_in(ro_app)
    with ro_app.app_context():
        aliases = registry.registry_aliases(registry.client_for(ro_app.config["MLFLOW_TRACKING_URI"]))
    return client, admin, user, aliases


def _aliases(store_uri: str) -> dict:
    return registry.registry_aliases(MlflowClient(store_uri, registry_uri=store_uri))


def _start(client, admin, **body) -> dict:
    resp = client.post("/admin/rollouts", headers=admin, json=body)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _get(client, admin, rollout_id: int) -> dict:
    resp = client.get(f"/admin/rollouts/{rollout_id}", headers=admin)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def _predict_and_judge(client, user, alias: str, index: int, judge: bool = True) -> dict:
    """Predict holdout digit `index` on `alias`, then (if `judge`) send its true digit as feedback."""
    pixels, label = holdout_digit(index)
    body = predict_ok(client, user, digit_photo(index), alias)
    if judge:
        correct = body["prediction"] == label
        verdict = {"prediction_id": body["prediction_id"], "correct": correct, "label": label}
        assert client.post("/feedback", headers=user, json=verdict).status_code == 201
    return body


def _drive(client, admin, user, alias: str, rollout_id: int, start: int, limit: int = 900) -> tuple:
    """Honest feedback on holdout digits until the rollout decides by itself; (rollout, answers)."""
    answers = []
    for index in range(start, start + limit):
        answers.append(_predict_and_judge(client, user, alias, index))
        if index % 5 == 0:
            rollout = _get(client, admin, rollout_id)
            if rollout["stage"] in FINAL:
                return rollout, answers
    raise AssertionError(f"no decision after {limit} images: {_get(client, admin, rollout_id)}")


def _recount(rollout_id: int, candidate: str) -> dict:
    """The paired counts recomputed in Python from the stored rows (checks the SQL aggregate)."""
    rows = db.session.execute(
        select(ShadowPrediction.predicted, ShadowPrediction.version, Prediction.predicted, Feedback.label)
        .join(Prediction, ShadowPrediction.prediction_id == Prediction.id)
        .join(Feedback, Feedback.prediction_id == Prediction.id)
        .where(ShadowPrediction.rollout_id == rollout_id)
    ).all()
    counts = {"only_candidate": 0, "only_baseline": 0, "both_right": 0, "both_wrong": 0}
    for shadow, version, served, label in rows:
        cand, base = (shadow, served) if version == candidate else (served, shadow)
        key = {(True, True): "both_right", (True, False): "only_candidate", (False, True): "only_baseline"}
        counts[key.get((cand == label, base == label), "both_wrong")] += 1
    return counts


def test_better_candidate_is_promoted_by_itself(ro_app, ro, store_uri):
    client, admin, user, aliases = ro
    base, cand = aliases["v1"], aliases["v2"]  # the bundled v2 is the stronger family
    rollout = _start(client, admin, alias="v1", version=cand, canary_share=1.0)
    assert rollout["stage"] == "shadow" and rollout["baseline_version"] == base
    assert rollout["thresholds"]["min_discordant"] == 5 and rollout["thresholds"]["alpha"] == 0.05

    # Before any feedback: the candidate scores every request, the answers stay the served ones.
    shadowed = [_predict_and_judge(client, user, "v1", i, judge=False) for i in range(25)]
    assert {b["model_version"] for b in shadowed} == {base}
    assert all(set(b) == set(shadowed[0]) for b in shadowed) and "shadow" not in str(sorted(shadowed[0]))
    ev = _get(client, admin, rollout["id"])["evidence"]
    assert ev["shadowed"] == 25 and ev["labelled"] == 0 and 0.5 < ev["agreement_rate"] <= 1.0
    with ro_app.app_context():
        of_rollout = ShadowPrediction.rollout_id == rollout["id"]
        stored = db.session.scalars(select(ShadowPrediction).where(of_rollout))
        assert {(s.version, s.stage) for s in stored} == {(cand, "shadow")}

    done, answers = _drive(client, admin, user, "v1", rollout["id"], start=100)
    assert done["stage"] == "promoted", done
    assert [h["stage"] for h in done["history"]] == ["shadow", "canary", "full", "promoted"]
    ev = done["evidence"]
    assert ev["only_candidate"] > ev["only_baseline"] and ev["e_better"] >= ev["e_threshold"]
    assert ev["canary_served"] >= 5 and ev["full_served"] >= 5
    assert {b["model_version"] for b in answers} == {base, cand}  # the canary and full stages served it
    with ro_app.app_context():
        recount = _recount(done["id"], cand)
        assert {k: ev[k] for k in recount} == recount
    assert _aliases(store_uri)["v1"] == cand
    # Over: the alias serves the candidate, and nothing shadows any more.
    with ro_app.app_context():
        before = db.session.scalar(select(func.count()).select_from(ShadowPrediction))
    assert predict_ok(client, user, digit_photo(7), "v1")["model_version"] == cand
    with ro_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ShadowPrediction)) == before


def test_worse_candidate_is_rolled_back_by_itself(ro_app, ro, store_uri):
    client, admin, user, aliases = ro
    base, cand = aliases["v2"], aliases["v1"]
    rollout = _start(client, admin, alias="v2", version=cand)
    done, answers = _drive(client, admin, user, "v2", rollout["id"], start=300)
    assert done["stage"] == "rolled_back", done
    assert "candidate worse" in done["reason"] and done["finished_at"] is not None
    ev = done["evidence"]
    assert ev["only_baseline"] > ev["only_candidate"] and ev["e_worse"] >= ev["e_threshold"]
    assert _aliases(store_uri)["v2"] == base
    assert predict_ok(client, user, digit_photo(3), "v2")["model_version"] == base
    # The alias is free again: a new rollout may start.
    assert _start(client, admin, alias="v2", version=cand)["stage"] == "shadow"


def test_rollout_api_errors_and_cancel(ro_app, ro, store_uri):
    client, admin, user, aliases = ro
    post = lambda body, headers=admin: client.post("/admin/rollouts", headers=headers, json=body)  # noqa: E731
    assert post({"alias": "v1", "version": aliases["v2"]}, user).status_code == 403
    assert client.get("/admin/rollouts").status_code == 401
    cases = [
        ({"alias": "nope", "version": aliases["v2"]}, "unknown_alias"),
        ({"alias": "v1", "version": "999"}, "unknown_version"),
        ({"alias": "v1", "version": aliases["v1"]}, "already_serving"),
    ]
    for body, code in cases:
        resp = post(body)
        assert resp.status_code == 422 and resp.get_json()["error"]["code"] == code, resp.get_json()
    for body in (
        {"alias": "v1"},
        {"alias": "v1", "version": "abc"},
        {"alias": "v1", "version": aliases["v2"], "canary_share": 0},
        {"alias": "v1", "version": aliases["v2"], "thresholds": {"alpha": 2}},
        {"alias": "v1", "version": aliases["v2"], "thresholds": {"min_discordant": 9, "max_discordant": 3}},
        {"alias": "v1", "version": aliases["v2"], "extra": 1},
    ):
        assert post(body).status_code == 422, body
    assert client.get("/admin/rollouts?page=0", headers=admin).status_code == 422

    rollout = _start(client, admin, alias="v1", version=aliases["v2"], thresholds={"alpha": 0.01})
    assert rollout["thresholds"]["alpha"] == 0.01
    second = post({"alias": "v1", "version": aliases["v2"]})
    assert second.status_code == 409 and second.get_json()["error"]["details"]["rollout_id"] == rollout["id"]
    assert client.get("/admin/rollouts/999999", headers=admin).status_code == 404
    assert client.post("/admin/rollouts/999999/cancel", headers=admin).status_code == 404

    page = client.get("/admin/rollouts?active=true", headers=admin).get_json()
    assert page["total"] == 1 and page["items"][0]["id"] == rollout["id"] and "evidence" in page["items"][0]
    cancelled = client.post(f"/admin/rollouts/{rollout['id']}/cancel", headers=admin)
    assert cancelled.status_code == 200 and cancelled.get_json()["stage"] == "cancelled"
    assert client.post(f"/admin/rollouts/{rollout['id']}/cancel", headers=admin).status_code == 409
    assert client.get("/admin/rollouts?active=true", headers=admin).get_json()["total"] == 0
    assert _aliases(store_uri)["v1"] == aliases["v1"]
    # Cancelled: the predict path stops shadowing.
    predict_ok(client, user, digit_photo(1), "v1")
    with ro_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ShadowPrediction)) == 0


def test_canary_split_is_sticky_and_near_its_share():
    points = [canary_fraction(7, uid) for uid in range(4000)]
    assert abs(sum(p < 0.25 for p in points) / 4000 - 0.25) < 0.03
    assert points[:50] == [canary_fraction(7, uid) for uid in range(50)]
    assert sum((canary_fraction(8, uid) < 0.25) != (p < 0.25) for uid, p in enumerate(points)) > 500


def test_sequential_test_and_stage_rules():
    th = {"alpha": 0.05, "min_discordant": 5, "max_discordant": 60, "shadow_min": 10,
          "min_agreement": 0.6, "canary_min": 3, "full_min": 3}
    # E+ grows with wins, stays below the bar on a coin's record, and mirrors E-.
    assert e_value(0, 0, better=True) == 1.0
    assert e_value(10, 10, better=True) > 20 > e_value(8, 10, better=True) > e_value(5, 10, better=True)
    assert e_value(1, 10, better=False) == pytest.approx(e_value(9, 10, better=True))
    assert decide("shadow", Evidence(shadowed=9, agreed=9), th).to_stage is None
    assert decide("shadow", Evidence(shadowed=10, agreed=5), th).to_stage == "rolled_back"
    assert decide("shadow", Evidence(shadowed=10, agreed=9), th).to_stage == "canary"
    strong = Evidence(shadowed=100, agreed=80, only_candidate=12, only_baseline=0)
    assert decide("canary", strong, th).to_stage is None  # the candidate has not served enough yet
    assert decide("canary", Evidence(**{**strong.__dict__, "canary_served": 3}), th).to_stage == "full"
    assert decide("full", Evidence(**{**strong.__dict__, "full_served": 3}), th).to_stage == "promoted"
    weak = Evidence(shadowed=100, agreed=80, only_candidate=0, only_baseline=12)
    assert decide("full", weak, th).to_stage == "rolled_back"
    coin = Evidence(shadowed=500, agreed=400, only_candidate=30, only_baseline=30)
    assert decide("canary", coin, th).to_stage == "rolled_back"  # max_discordant: not shown better


def test_retrain_hands_its_candidate_to_a_rollout(make_app, store_uri, sign_in):
    from tests.conftest import TEMPLATE_LIMIT
    from tests.factories import correct_mistakes
    from tests.polling import json_ok, poll

    margin = {"RETRAIN_DATA_LIMIT": TEMPLATE_LIMIT, "RETRAIN_PROMOTION_MARGIN": -0.05}
    app = make_app(MLFLOW_TRACKING_URI=store_uri, **margin, **FAST)
    client, admin = sign_in(app, role="admin")
    before = _aliases(store_uri)
    bad = {"base": "v1", "rollout": True, "promote_to": "v2"}
    assert client.post("/admin/retrain", headers=admin, json=bad).status_code == 422
    # Feedback on v1's mistakes: the candidate is strictly better, as the gate (ties never pass) needs.
    correct_mistakes(client, admin, "v1")
    resp = client.post("/admin/retrain", headers=admin, json={"base": "v1", "rollout": True})
    assert resp.status_code == 202, resp.get_json()
    job = poll(
        lambda: json_ok(client.get(f"/admin/retrain/{resp.get_json()['job_id']}", headers=admin)),
        lambda j: j["status"] in ("succeeded", "failed", "rejected"),
        timeout=300,
    )
    assert job["status"] == "succeeded" and job["promoted"] is False, job
    assert job["decision"].startswith(f"handed to rollout {job['metrics']['rollout_id']} on v1")
    rollout = _get(client, admin, job["metrics"]["rollout_id"])
    assert rollout["stage"] == "shadow" and rollout["source"] == "retrain"
    assert rollout["candidate_version"] == job["registered_version"]
    assert rollout["retrain_job_id"] == job["id"]
    assert rollout["baseline_version"] == before["v1"]
    assert _aliases(store_uri) == before  # nothing moved: the rollout decides
