"""The promotion gate (issue 14 item 5): pure decisions, paired feedback comparison, ties."""

from __future__ import annotations

import numpy as np
import pytest

from app.ml.promotion import Paired, decide_promotion, paired_counts

CUR = {"holdout": 0.98, "real-world": 0.90}


def _decide(new: dict, paired: Paired | None = None, margin: float = 0.0) -> tuple[bool, str]:
    return decide_promotion("v2", new=new, current=CUR, current_version="3", margin=margin, paired=paired)


def test_identical_model_ties_everywhere_and_is_rejected():
    ok, why = _decide(dict(CUR), Paired(n=40, candidate_only=0, serving_only=0))
    assert not ok and why.startswith("rejected for v2: a tie")
    ok, why = _decide(dict(CUR))  # no feedback held out: still a tie
    assert not ok and "a tie" in why


def test_discordant_images_that_cancel_out_are_a_tie():
    ok, why = _decide(dict(CUR), Paired(n=40, candidate_only=3, serving_only=3))
    assert not ok and "a tie" in why and "3 fixed, 3 broken" in why


def test_better_on_feedback_alone_promotes():
    ok, why = _decide(dict(CUR), Paired(n=40, candidate_only=5, serving_only=1))
    assert ok and why.startswith("promoted to v2")
    assert "feedback 40 held-out images: 5 fixed, 1 broken vs current version 3 (+0.1000 >= margin 0" in why
    assert "McNemar p=0.219" in why


def test_better_on_both_promotes():
    ok, why = _decide({"holdout": 0.985, "real-world": 0.91}, Paired(n=40, candidate_only=2, serving_only=0))
    assert ok and "holdout 0.9850 >= current version 3's 0.9800" in why


def test_better_on_mnist_but_worse_on_feedback_is_rejected():
    # The point: MNIST points do not buy a model that serves the traffic worse.
    ok, why = _decide({"holdout": 0.99, "real-world": 0.95}, Paired(n=40, candidate_only=1, serving_only=4))
    assert not ok and why.startswith("rejected for v2")
    assert "1 fixed, 4 broken" in why and "(-0.0750 < margin 0" in why


def test_margin_applies_to_the_feedback_difference():
    better = {"holdout": 0.99, "real-world": 0.95}  # +0.01 and +0.05: pass a 0.005 margin
    assert _decide(better, Paired(n=100, candidate_only=1, serving_only=0), margin=0.005)[0]  # +0.01
    ok, why = _decide(better, Paired(n=400, candidate_only=1, serving_only=0), margin=0.005)  # +0.0025
    assert not ok and "(+0.0025 < margin 0.005" in why


def test_worse_on_a_fixed_set_is_rejected_even_if_feedback_is_better():
    ok, why = _decide({"holdout": 0.97, "real-world": 0.95}, Paired(n=40, candidate_only=9, serving_only=0))
    assert not ok and "holdout 0.9700 < current version 3's" in why


def test_no_target_and_new_alias():
    assert not decide_promotion(None, new=CUR, current=CUR, current_version="3", margin=0)[0]
    ok, why = decide_promotion("v9", new=CUR, current=None, current_version=None, margin=0)
    assert ok and "did not exist" in why


def test_paired_counts_and_p_value():
    y = np.array([0, 1, 2, 3, 4, 5])
    cand = np.array([0, 1, 2, 9, 9, 5])  # wrong on 3 and 4
    serv = np.array([0, 9, 9, 3, 9, 9])  # wrong on 1, 2, 4, 5
    p = paired_counts(cand, serv, y)
    assert p == Paired(n=6, candidate_only=3, serving_only=1)
    assert p.difference == pytest.approx(2 / 6)
    assert p.p_value == pytest.approx(0.625)  # 2 * P(X <= 1), X ~ Bin(4, 1/2)
    assert Paired(0, 0, 0).p_value == 1.0 and Paired(0, 0, 0).difference == 0.0
    assert Paired(20, 10, 0).p_value == pytest.approx(2 / 2**10)
