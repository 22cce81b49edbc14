"""The predict path's side of a rollout: which version serves, which shadows, and the shadow rows.

Cheap by design: the active rollouts are read once per MODEL_RELOAD_INTERVAL per process (a dict
look-up per request otherwise; nothing at all when no rollout is active), and the shadow answer
is one more vectorised model call on the batch the served model already scored.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.rollout.models import Rollout, ShadowPrediction
from app.state import model_store, rollout_cache_or_none

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActiveRollout:
    id: int
    alias: str
    candidate: str
    baseline: str
    stage: str
    canary_share: float


class RolloutCache:
    """{alias: ActiveRollout} of this process, re-read at most every ``interval`` seconds."""

    def __init__(self) -> None:
        self._by_alias: dict[str, ActiveRollout] = {}
        self._loaded = float("-inf")
        self._lock = threading.Lock()

    def get(self, alias: str, interval: float) -> ActiveRollout | None:
        if time.monotonic() - self._loaded >= interval:
            self._reload(interval)
        return self._by_alias.get(alias)

    def any_active(self, interval: float) -> bool:
        if time.monotonic() - self._loaded >= interval:
            self._reload(interval)
        return bool(self._by_alias)

    def invalidate(self) -> None:
        self._loaded = float("-inf")

    def _reload(self, interval: float) -> None:
        if not self._lock.acquire(blocking=False):
            return  # another thread is reading: use what is cached
        try:
            if time.monotonic() - self._loaded < interval:
                return
            self._loaded = time.monotonic()  # first: a failing database is not asked per request
            rows = db.session.scalars(select(Rollout).where(Rollout.active_lock.is_not(None))).all()
            self._by_alias = {
                r.alias: ActiveRollout(
                    r.id, r.alias, r.candidate_version, r.baseline_version, r.stage, r.canary_share
                )
                for r in rows
            }
            keep = {v for r in self._by_alias.values() for v in (r.candidate, r.baseline)}
            model_store().retain_versions(keep)
        except Exception:  # noqa: BLE001 - keep the last known rollouts; never fail a prediction
            db.session.rollback()
            log.warning("could not read the active rollouts", exc_info=True)
        finally:
            self._lock.release()


def canary_fraction(rollout_id: int, user_id: int) -> float:
    """A user's sticky point in [0, 1) for one rollout (a new rollout reshuffles users)."""
    digest = hashlib.blake2b(f"rollout:{rollout_id}:{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class Route:
    rollout: ActiveRollout
    served: Any  # DigitModel answering the request
    shadow: Any  # DigitModel scoring the same batch beside it


def route(alias: str, user_id: int, alias_model: Any) -> Route | None:
    """The served and shadow models when ``alias`` has an active rollout, else None."""
    cache = rollout_cache_or_none()
    if cache is None:
        return None
    rollout = cache.get(alias, current_app.config["MODEL_RELOAD_INTERVAL"])
    if rollout is None:
        return None
    store = model_store()
    try:
        served = alias_model
        if rollout.stage == "full" or (
            rollout.stage == "canary" and canary_fraction(rollout.id, user_id) < rollout.canary_share
        ):
            served = store.get_version(rollout.candidate)
        if str(served.version) == rollout.candidate:
            shadow = alias_model
            if str(alias_model.version) == rollout.candidate:
                shadow = store.get_version(rollout.baseline)
        else:
            shadow = store.get_version(rollout.candidate)
    except Exception:  # noqa: BLE001 - a candidate that cannot load never costs a live answer
        log.warning("rollout %s: versions not loadable; %s serves alone", rollout.id, alias, exc_info=True)
        return None
    return Route(rollout, served, shadow)


def shadow_rows(rt: Route, batch: np.ndarray, rows: list[Any]) -> list[ShadowPrediction]:
    """The shadow model's answers for the batch's stored rows (one vectorised call)."""
    try:
        proba = np.asarray(rt.shadow.predict_proba(batch), dtype=np.float64)
    except Exception:  # noqa: BLE001 - the shadow answer is a bonus; the served one stands
        log.warning("rollout %s: shadow scoring failed", rt.rollout.id, exc_info=True)
        return []
    digits = proba.argmax(axis=1)
    best = proba[np.arange(len(digits)), digits]
    return [
        ShadowPrediction(
            prediction=row,
            rollout_id=rt.rollout.id,
            version=str(rt.shadow.version),
            predicted=int(d),
            probability=round(float(p), 6),
            stage=rt.rollout.stage,
        )
        for row, d, p in zip(rows, digits, best, strict=True)
    ]
