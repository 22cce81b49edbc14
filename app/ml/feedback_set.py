"""The feedback images of a retrain: validated, then split by time into the
part that trains and the newest part that evaluates."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from app.ml.codec import N_PIXELS, as_batch
from app.ml.families import N_CLASSES

FEEDBACK_EVAL_FRACTION = 0.2  # newest share of feedback kept out of training
MIN_FEEDBACK_FOR_SPLIT = 5  # below this, all feedback is used for training


@dataclass(frozen=True)
class FeedbackSplit:
    X: np.ndarray  # (n, 784) float32
    y: np.ndarray  # (n,) int64
    train: np.ndarray  # indices into X/y used for training
    eval: np.ndarray  # indices held out for evaluation (the newest)
    train_ids: list[int]
    eval_ids: list[int]


def _time_key(t: Any) -> float:
    if isinstance(t, datetime):
        return t.timestamp()
    return float(t)


def split_feedback(n: int, times: Sequence[Any] | None) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, eval): the newest ~20% (by time) are held out for
    evaluation so feedback accuracy measures generalisation forward in time."""
    order = np.arange(n)
    if times is not None and len(times) == n and n:
        order = np.argsort(np.array([_time_key(t) for t in times]), kind="stable")
    if n < MIN_FEEDBACK_FOR_SPLIT:
        return order, np.array([], dtype=np.int64)
    n_eval = max(1, math.ceil(n * FEEDBACK_EVAL_FRACTION))
    return order[: n - n_eval], order[n - n_eval :]


def gather_feedback(
    extra_X: np.ndarray | None,
    extra_y: Sequence[int] | np.ndarray | None,
    feedback_ids: Sequence[int],
    feedback_times: Sequence[Any] | None,
) -> FeedbackSplit:
    """Validate the feedback arrays and split them by time; raises ValueError."""
    ids = [int(i) for i in feedback_ids]
    fX = np.zeros((0, N_PIXELS), np.float32) if extra_X is None else as_batch(extra_X)
    if len(fX) == 0:
        fX = np.zeros((0, N_PIXELS), np.float32)
    fy = np.asarray([] if extra_y is None else extra_y, dtype=np.int64).reshape(-1)
    if len(fy) != len(fX) or (ids and len(ids) != len(fX)):
        raise ValueError("extra_X, extra_y and feedback_ids must have the same length")
    if len(fy) and (fy.min() < 0 or fy.max() >= N_CLASSES):
        raise ValueError("feedback labels must be digits 0-9")
    tr_idx, ev_idx = split_feedback(len(fy), feedback_times)
    train_ids = [ids[i] for i in tr_idx] if ids else []
    eval_ids = [ids[i] for i in ev_idx] if ids else []
    return FeedbackSplit(fX, fy, tr_idx, ev_idx, train_ids, eval_ids)
