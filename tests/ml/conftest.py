"""Shared fixtures for the model package tests (no Flask involved)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from app.ml import data, families, tracking
from app.ml.runtime import DigitModel
from tests.factories import draw_digit, png_bytes


@pytest.fixture(scope="session")
def split() -> data.Split:
    return data.load_split()


@pytest.fixture(scope="session")
def trained(split: data.Split) -> dict[str, dict]:
    """v1 and v2 trained once per session on the full training set, as bootstrap does."""
    ts = data.training_set()
    out = {}
    for alias, family in tracking.BOOTSTRAP_PLAN:
        t0 = time.perf_counter()
        model = families.train(family, ts.X, ts.y, sample_weight=ts.weight)
        out[alias] = {"model": model, "family": family, "seconds": time.perf_counter() - t0}
    return out


@pytest.fixture(scope="session")
def v2_model(trained: dict[str, dict]) -> DigitModel:
    return DigitModel(trained["v2"]["model"], alias="v2").load()


@pytest.fixture
def digit_png() -> Callable[..., bytes]:
    def make(digit: str = "7", **kw: object) -> bytes:
        return png_bytes(draw_digit(digit, **kw))

    return make
