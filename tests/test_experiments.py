"""Experiments (issue #14 items 1-2): the per-user feedback cap, anytime-valid statistics, SRM
checks and alarm, phases. Statistics against hand-computed values; the rest on the real
database through the API."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from app.ab import stats
from app.ab.analysis import srm_check
from app.ab.phases import Phase
from app.ab.service import AbConfig, Arm, arm_feedback_counts, posterior_counts, sticky_arm, thompson_arm
from app.extensions import db
from app.notify.models import Delivery, Webhook
from app.timeutil import utcnow
from bench.aa_simulation import Settings, simulate
from tests.factories import add_users, digit_photo, post_predict, seed_ab_predictions

CAP = 20


# ---------------------------------------------------------------- statistics, by hand


def test_mixture_boundary_matches_hand_computation():
    # rho^2 = (-2 ln .05 + ln(-2 ln .05 + 1)) / 500 = (5.991465 + 1.944691) / 500
    assert stats.mixture_rho(0.05, 500) == pytest.approx(0.1259853531, abs=1e-9)
    # n=100, v=.09: .3 * sqrt(2(1.587231+1)/(100^2 * .0158723) * ln(sqrt(2.587231)/.05))
    assert stats.cs_half_width(0.09, 100) == pytest.approx(0.1009166, abs=1e-6)
    # Wider than the fixed-horizon 95 % interval at every n (the price of looking at will) ...
    for n in (10, 100, 1000, 10000):
        assert stats.cs_half_width(0.09, n) > 1.96 * math.sqrt(0.09 / n)
    # ... and still shrinking to zero.
    assert stats.cs_half_width(0.09, 10**6) < 0.003


def _acc(users: list[list[bool]], cap: int = CAP) -> stats.ArmAccumulator:
    acc = stats.ArmAccumulator(cap)
    order = [(u, v) for u, verdicts in enumerate(users) for v in verdicts]
    random.Random(3).shuffle(order)  # interleaved; each user's own order is what the cap keeps
    for u, v in sorted(order, key=lambda uv: uv[0]):
        acc.add(u, v)
    return acc


def test_accumulator_caps_users_and_matches_per_user_delta_method():
    users = [[True, True, False], [True], [True] * 25, [False, True, True, True]]
    acc = _acc(users)
    m = np.array([3, 1, 20, 4])
    c = np.array([2, 1, 20, 3])
    assert (acc.users, acc.m, acc.c) == (4, 28, 26)  # the 25-verdict user weighs 20
    p = c.sum() / m.sum()
    delta = ((c - p * m) ** 2).sum() / 3 / m.mean() ** 2
    floor = (27 / 30) * (3 / 30) / m.mean()
    assert acc.unit_variance() == pytest.approx(max(delta, floor), rel=1e-12)
    assert acc.add(2, False) is False  # past the cap: ignored
    assert acc.m == 28


def test_difference_interval_scales_to_all_users():
    a = _acc([[True, True, False, True]] * 6 + [[True] * 5] * 4)
    b = _acc([[False, True]] * 7 + [[True, True, True]] * 5)
    est, low, high = stats.difference_interval(a, b)
    assert est == pytest.approx(a.c / a.m - b.c / b.m)
    var = (a.unit_variance() / 10 + b.unit_variance() / 12) * 22
    half = stats.cs_half_width(var, 22)
    assert (low, high) == pytest.approx((est - half, est + half))
    few = _acc([[True]] * 4)
    assert stats.difference_interval(few, b)[1:] == (None, None)  # < MIN_USERS: no interval


def test_srm_tests_by_hand_and_on_assignments():
    # chi-square of 600/400 against 1:1 is 40 on one degree of freedom: p = erfc(sqrt(20)).
    assert stats.chi_square_srm([600, 400], [1, 1]) == pytest.approx(math.erfc(math.sqrt(20)), rel=1e-9)
    # Dirichlet(1, 1) mixture vs p=(.5, .5): BF(1,0) = 1, BF(2,0) = Gamma(3)/Gamma(4)... = 4/3.
    assert stats.log_bayes_factor([1, 0], [0.5, 0.5], 2.0) == pytest.approx(0.0, abs=1e-12)
    assert stats.log_bayes_factor([2, 0], [0.5, 0.5], 2.0) == pytest.approx(math.log(4 / 3), abs=1e-12)
    # Fair: the service's own sticky hash for 3000 users, 30/70. Skewed: 40/60 against 1:1.
    config = AbConfig("srm-exp", "sticky", (Arm("v1", 0.3), Arm("v2", 0.7)))
    fair = [0 if sticky_arm(uid, config) == "v1" else 1 for uid in range(3000)]
    assert stats.sequential_srm(fair, [0.3, 0.7]) > stats.SRM_SEQ_ALPHA
    assert stats.chi_square_srm([fair.count(0), fair.count(1)], [0.3, 0.7]) > stats.SRM_CHI2_ALPHA
    rng = random.Random(5)
    skewed = [0 if rng.random() < 0.4 else 1 for _ in range(3000)]
    assert stats.sequential_srm(skewed, [1, 1]) < stats.SRM_SEQ_ALPHA


def test_srm_check_outcomes_by_phase_kind():
    sticky = Phase(2, "sticky", (("v1", 0.25), ("v2", 0.75), ("v3", 0.0)), None, None, None, None)
    fair = ["v1", "v2", "v2", "v2"] * 100
    ok = srm_check(sticky, fair)
    assert ok["status"] == "ok" and ok["observed_users"] == {"v1": 100, "v2": 300}
    assert srm_check(sticky, fair + ["v3"])["status"] == "failing"  # a switched-off arm got a user
    assert srm_check(sticky, [])["status"] == "insufficient_data"
    bandit = Phase(1, "thompson", (("v1", 1.0), ("v2", 1.0)), None, None, None, None)
    assert srm_check(bandit, ["v1"] * 90 + ["v2"] * 10)["status"] == "not_applicable"
    unknown = Phase(1, "sticky", None, None, None, None, None)
    assert srm_check(unknown, fair)["status"] == "not_applicable"


def test_aa_simulation_names_at_most_5_percent_false_winners():
    """The bench's A/A simulation, smaller and seeded: 200 experiments, report consulted after
    every verdict. The old z-test on the same data is far above 5 %."""
    result = simulate(Settings(experiments=200, users=80, seed=11))
    assert result["experiments"] == 200 and result["looks"] > 20000
    assert result["new_rate"] <= 0.05, result
    assert result["old_rate"] > 0.2, result


# ---------------------------------------------------------------- through the service


def _report(client, headers) -> dict:
    resp = client.get("/admin/report", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def _arm(body: dict, name: str) -> dict:
    return next(a for a in body["per_arm"] if a["arm"] == name)


def test_one_users_poisoned_feedback_moves_report_figures_by_at_most_the_cap(app, client, admin_headers):
    with app.app_context():
        honest = add_users(60)
        for uid in honest[:30]:
            seed_ab_predictions(uid, "v1", [True] * 9 + [False], version="1")
        for uid in honest[30:]:
            seed_ab_predictions(uid, "v2", [True] * 9 + [False], version="2")
    before = _report(client, admin_headers)
    with app.app_context():
        (poisoner,) = add_users(1)
        seed_ab_predictions(poisoner, "v2", [False] * 60, version="2")  # every v2 answer "wrong"
    after = _report(client, admin_headers)
    v2_before, v2_after = _arm(before, "v2"), _arm(after, "v2")
    assert v2_after["feedback"] - v2_before["feedback"] == CAP  # 60 sent, 20 weigh
    assert v2_after["correct"] == v2_before["correct"]
    assert v2_after["accuracy"] == pytest.approx(270 / 320, abs=1e-6)  # not 270 / 360
    assert after["total_feedback"] - before["total_feedback"] == CAP
    exp_before, exp_after = before["experiments"][0], after["experiments"][0]
    v2_exp = next(a for a in exp_after["arms"] if a["arm"] == "v2")
    assert v2_exp["n"] == 320 and v2_exp["users"] == 31
    assert exp_before["winner"] is None and exp_after["winner"] is None
    assert after["comparison"]["verdict"].startswith("no winner yet")
    assert exp_after["srm"]["status"] == "ok"  # 30 vs 31 users at 1:1


@pytest.mark.usefixtures("models")
def test_thompson_allocation_moves_no_more_than_the_poisoners_cap(make_app, sign_in):
    app = make_app(
        AB_MODE="thompson",
        AB_POSTERIOR_CACHE_SECONDS=0,  # every draw reads the counts as they are now
        PREDICT_V1_LIMIT="1000 per day",
        PREDICT_V2_LIMIT="1000 per day",
        RATELIMIT_DEFAULT="10000 per hour",
    )
    config = AbConfig("v1-vs-v2", "thompson", (Arm("v1", 0.5), Arm("v2", 0.5)))
    with app.app_context():
        honest = add_users(120)
        for i, uid in enumerate(honest):  # both arms equally good: 1200 verdicts each, 90 % right
            seed_ab_predictions(uid, "v1" if i % 2 else "v2", [True] * 18 + [False] * 2)
        counts_before = arm_feedback_counts("v1-vs-v2")
    client, headers = sign_in(app)
    sent = {"v1": 0, "v2": 0}
    for _ in range(60):  # the poisoner: v1 always "right", v2 always "wrong"
        body = post_predict(client, headers, digit_photo(3), path="/api/ab/predict").get_json()
        arm = body["ab_version"]
        verdict = {"prediction_id": body["prediction_id"], "correct": arm == "v1"}
        if arm == "v2":
            verdict["label"] = (body["prediction"] + 1) % 10
        assert client.post("/feedback", headers=headers, json=verdict).status_code == 201
        sent[arm] += 1
    with app.app_context():
        counts = arm_feedback_counts("v1-vs-v2")
        assert counts["v1"] == (counts_before["v1"][0] + min(CAP, sent["v1"]), counts_before["v1"][1])
        assert counts["v2"] == (counts_before["v2"][0], counts_before["v2"][1] + min(CAP, sent["v2"]))
        rng = random.Random(2)
        share = sum(thompson_arm(config, rng) == "v2" for _ in range(400)) / 400
    # The worst any one user can do: CAP "right" on v1 and CAP "wrong" on v2.
    draws = np.random.default_rng(4)
    (ok1, bad1), (ok2, bad2) = counts_before["v1"], counts_before["v2"]
    worst = np.mean(draws.beta(1 + ok2, 1 + bad2 + CAP, 20000) > draws.beta(1 + ok1 + CAP, 1 + bad1, 20000))
    uncapped = np.mean(draws.beta(1 + ok2, 1 + bad2 + 60, 20000) > draws.beta(1 + ok1 + 60, 1 + bad1, 20000))
    assert share >= worst - 0.05, (share, worst)
    assert uncapped < worst / 3  # the cap is what keeps v2 in play
    admin_client, admin = sign_in(app, role="admin")
    report = _report(admin_client, admin)
    exp = report["experiments"][0]
    assert exp["exploratory"] is True and exp["winner"] is None and exp["srm"]["status"] == "not_applicable"
    assert report["comparison"]["verdict"].startswith("exploratory")


def test_thompson_reads_the_posterior_at_most_once_per_cache_interval(make_app):
    cached = make_app(AB_MODE="thompson", AB_POSTERIOR_CACHE_SECONDS=3600)
    fresh = make_app(AB_MODE="thompson", AB_POSTERIOR_CACHE_SECONDS=0)
    with cached.app_context():
        assert posterior_counts("v1-vs-v2") == {}
        (uid,) = add_users(1)
        seed_ab_predictions(uid, "v2", [True, False, True])
        assert posterior_counts("v1-vs-v2") == {}  # within the interval: the counts read before
        assert arm_feedback_counts("v1-vs-v2") == {"v2": (2, 1)}
    with fresh.app_context():
        assert posterior_counts("v1-vs-v2") == {"v2": (2, 1)}


def _assign(app, config: AbConfig, users: list[int], force: str | None = None) -> None:
    with app.app_context():
        for uid in users:
            seed_ab_predictions(uid, force or sticky_arm(uid, config), [None, True])


def test_srm_detected_on_skewed_assignment_and_alarm_sent_once(app, client, admin_headers):
    with app.app_context():
        db.session.add(Webhook(url="http://127.0.0.1:9/hook", events=["srm.alarm"], secret="s" * 16))
        db.session.commit()
        users = add_users(160)
    config = AbConfig("v1-vs-v2", "sticky", (Arm("v1", 0.5), Arm("v2", 0.5)))
    _assign(app, config, users[:80])
    fair = _report(client, admin_headers)["experiments"][0]["srm"]
    assert fair["status"] == "ok", fair
    _assign(app, config, users[80:], force="v1")  # e.g. v2's users turned away by its limit
    for _ in range(2):
        srm = _report(client, admin_headers)["experiments"][0]["srm"]
        assert srm["status"] == "failing" and srm["sequential_p_value"] < 0.01, srm
    with app.app_context():
        alarms = db.session.scalars(select(Delivery).where(Delivery.event == "srm.alarm")).all()
        assert len(alarms) == 1 and '"phase":1' in alarms[0].body


@pytest.mark.usefixtures("models")
def test_new_weights_start_a_new_phase_analysed_alone(app, client, admin_headers):
    with app.app_context():
        early = add_users(40)
        for uid in early:  # phase 1: v2 looked far worse
            seed_ab_predictions(uid, "v1", [True] * 5, when=utcnow() - timedelta(hours=1))
            seed_ab_predictions(uid, "v2", [False] * 5, when=utcnow() - timedelta(hours=1))
    body = _report(client, admin_headers)["experiments"][0]
    assert body["phase"] == 1 and body["winner"] == "v1"
    resp = client.put(
        "/admin/ab",
        headers=admin_headers,
        json={"arms": [{"alias": "v1", "weight": 1}, {"alias": "v2", "weight": 3}]},
    )
    assert resp.status_code == 200
    body = _report(client, admin_headers)["experiments"][0]
    assert body["phase"] == 2 and body["winner"] is None and body["difference"] is None
    assert [a["n"] for a in body["arms"]] == [0, 0]
    (previous,) = body["previous_phases"]
    assert previous["number"] == 1 and previous["arms"] == [
        {"alias": "v1", "weight": 0.5},
        {"alias": "v2", "weight": 0.5},
    ]
    again = client.put(
        "/admin/ab",
        headers=admin_headers,
        json={"arms": [{"alias": "v1", "weight": 1}, {"alias": "v2", "weight": 3}]},
    )
    assert again.status_code == 200
    with app.app_context():
        from app.ab.models import AbPhase

        assert db.session.scalar(select(func.count(AbPhase.id))) == 2  # same settings: same phase


def test_report_history_and_cap_config(app, client, admin_headers, make_app):
    with app.app_context():
        for uid in add_users(12):
            seed_ab_predictions(uid, "v1" if uid % 2 else "v2", [True, True, False])
    arms = _report(client, admin_headers)["experiments"][0]["arms"]
    for arm in arms:
        points = arm["history"]
        assert points and points[-1]["n"] == arm["n"] and points[-1]["accuracy"] == arm["accuracy"]
        assert [p["n"] for p in points] == sorted(p["n"] for p in points)
    from app.config import ConfigError

    for bad in (0, -1, "20"):
        with pytest.raises(ConfigError, match="FEEDBACK_USER_CAP"):
            make_app(FEEDBACK_USER_CAP=bad)
