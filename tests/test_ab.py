from __future__ import annotations

import random
from collections import Counter

import pytest

from app.ab.service import AbConfig, Arm, parse_arms, sticky_arm
from app.config import ConfigError
from app.extensions import db
from app.predict.models import Prediction
from tests.factories import holdout_digit, mnist_as_photo, post_predict

UPLOAD = mnist_as_photo(holdout_digit(11)[0])


def _ab(client, headers):
    return post_predict(client, headers, UPLOAD, path="/api/ab/predict")


def test_sticky_split_matches_weights_over_many_users():
    config = AbConfig("exp-1", "sticky", (Arm("v1", 0.2), Arm("v2", 0.8)))
    counts = Counter(sticky_arm(uid, config) for uid in range(2000))
    assert abs(counts["v2"] / 2000 - 0.8) < 0.03, counts
    # Same user, same experiment: same arm every time; another experiment reshuffles.
    assert all(sticky_arm(uid, config) == sticky_arm(uid, config) for uid in range(200))
    other = AbConfig("exp-2", "sticky", config.arms)
    assert sum(sticky_arm(uid, config) != sticky_arm(uid, other) for uid in range(2000)) > 200


def test_zero_weight_arm_never_chosen():
    config = AbConfig("exp", "sticky", (Arm("v1", 0.0), Arm("v2", 1.0)))
    assert {sticky_arm(uid, config) for uid in range(500)} == {"v2"}


@pytest.mark.parametrize("spec", ["v1", "v1:abc", "v1:-1,v2:1", "v1:0,v2:0", ":0.5", "v1:0.5,v1:0.5", ""])
def test_malformed_ab_arms_refused(spec):
    with pytest.raises(ConfigError):
        parse_arms(spec)


def test_malformed_ab_arms_stops_app_start(make_app):
    with pytest.raises(ConfigError, match="AB_ARMS"):
        make_app(AB_ARMS="v1:x")


@pytest.mark.usefixtures("models")
def test_ab_predict_is_sticky_and_records_the_arm(app, client, user_headers):
    bodies = [_ab(client, user_headers).get_json() for _ in range(4)]
    arms = {b["ab_version"] for b in bodies}
    assert len(arms) == 1 and arms <= {"v1", "v2"}
    assert all(b["experiment"] == "v1-vs-v2" and b["version"] == b["ab_version"] for b in bodies)
    assert all(isinstance(b["ood"], bool) and b["ood_score"] >= 0 for b in bodies)
    with app.app_context():
        row = db.session.get(Prediction, bodies[0]["prediction_id"])
        assert row.ab_arm == bodies[0]["ab_version"] and row.ab_experiment == "v1-vs-v2"
        assert row.model_alias == row.ab_arm


@pytest.mark.usefixtures("models")
def test_admin_updates_weights_with_validation(client, user_headers, admin_headers):
    assert client.get("/admin/ab", headers=admin_headers).get_json()["arms"] == [
        {"alias": "v1", "weight": 0.5},
        {"alias": "v2", "weight": 0.5},
    ]
    bad = [
        {"arms": [{"alias": "v1", "weight": -0.1}, {"alias": "v2", "weight": 1}]},
        {"arms": [{"alias": "v1", "weight": 0}, {"alias": "v2", "weight": 0}]},
        {"arms": [{"alias": "v1", "weight": 1}, {"alias": "v9", "weight": 1}]},
        {"arms": []},
        {"arms": [{"alias": "v1", "weight": 1}], "mode": "roulette"},
    ]
    for body in bad:
        resp = client.put("/admin/ab", headers=admin_headers, json=body)
        assert resp.status_code == 422, (body, resp.get_json())
    assert (
        client.put(
            "/admin/ab", headers=user_headers, json={"arms": [{"alias": "v2", "weight": 1}]}
        ).status_code
        == 403
    )
    ok = client.put(
        "/admin/ab",
        headers=admin_headers,
        json={"arms": [{"alias": "v1", "weight": 0}, {"alias": "v2", "weight": 1}], "experiment": "all-v2"},
    )
    assert ok.status_code == 200
    assert client.get("/admin/ab", headers=admin_headers).get_json()["experiment"] == "all-v2"
    body = _ab(client, user_headers).get_json()
    assert body["ab_version"] == "v2" and body["experiment"] == "all-v2"


@pytest.mark.usefixtures("models")
def test_ab_counts_against_the_chosen_versions_limit(make_app, sign_in):
    app = make_app(PREDICT_V2_LIMIT="2 per day", AB_ARMS="v1:0,v2:1")
    client, headers = sign_in(app)
    first = post_predict(client, headers, UPLOAD, "v2")
    assert first.status_code == 200
    assert _ab(client, headers).status_code == 200
    limited = _ab(client, headers)
    assert limited.status_code == 429
    # v1's budget is separate.
    v1 = post_predict(client, headers, UPLOAD, "v1")
    assert v1.status_code == 200


@pytest.mark.usefixtures("models")
def test_thompson_mode_converges_on_the_better_arm(make_app, sign_in):
    app = make_app(
        AB_MODE="thompson",
        PREDICT_V1_LIMIT="10000 per day",
        PREDICT_V2_LIMIT="10000 per day",
        RATELIMIT_DEFAULT="10000 per hour",
    )
    client, headers = sign_in(app)
    rng = random.Random(7)
    truth = {"v1": 0.3, "v2": 0.9}  # simulated users find v2 right far more often
    served = []
    for _ in range(300):
        body = _ab(client, headers).get_json()
        arm = body["ab_version"]
        served.append(arm)
        correct = rng.random() < truth[arm]
        fb = {"prediction_id": body["prediction_id"], "correct": correct}
        if not correct:
            fb["label"] = (body["prediction"] + 1) % 10
        assert client.post("/feedback", headers=headers, json=fb).status_code == 201
    share = served[-100:].count("v2") / 100
    assert share > 0.8, Counter(served[-100:])
    assert 0 < served.count("v1") < 150  # explored, then exploited
