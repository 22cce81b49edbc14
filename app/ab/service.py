"""Arm assignment: weighted sticky split (hash of user and experiment) or Thompson sampling."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import case, func, select

from app.ab.models import AbSetting
from app.config import ConfigError
from app.extensions import db
from app.feedback.capped import capped_verdicts
from app.predict.models import Prediction
from app.state import ab_posterior_cache

MODES = ("sticky", "thompson")
SETTINGS_ID = 1


@dataclass(frozen=True)
class Arm:
    alias: str
    weight: float


@dataclass(frozen=True)
class AbConfig:
    experiment: str
    mode: str
    arms: tuple[Arm, ...]

    def to_dict(self) -> dict:
        return {
            "experiment": self.experiment,
            "mode": self.mode,
            "arms": [{"alias": a.alias, "weight": a.weight} for a in self.arms],
        }


def parse_arms(spec: str) -> tuple[Arm, ...]:
    """Parse AB_ARMS, e.g. "v1:0.2,v2:0.8". Raises ConfigError with a one-line reason."""
    arms = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        alias, sep, weight = part.partition(":")
        if not sep or not alias.strip():
            raise ConfigError(f"AB_ARMS entry {part!r} is not 'alias:weight' (e.g. v1:0.5,v2:0.5)")
        try:
            value = float(weight)
        except ValueError:
            raise ConfigError(f"AB_ARMS weight {weight!r} for {alias!r} is not a number") from None
        arms.append(Arm(alias.strip(), value))
    validate_arms(arms, ConfigError)
    return tuple(arms)


def validate_arms(arms: list[Arm] | tuple[Arm, ...], error: Callable[[str], Exception]) -> None:
    if len(arms) < 1:
        raise error("at least one arm is needed")
    aliases = [a.alias for a in arms]
    if len(set(aliases)) != len(aliases):
        raise error(f"arm aliases repeat: {aliases}")
    if any(a.weight < 0 or a.weight != a.weight or a.weight == float("inf") for a in arms):
        raise error("arm weights must be finite and >= 0")
    if sum(a.weight for a in arms) <= 0:
        raise error("arm weights must sum to more than 0")


def default_config() -> AbConfig:
    cfg = current_app.config
    return AbConfig(cfg["AB_EXPERIMENT"], cfg["AB_MODE"], parse_arms(cfg["AB_ARMS"]))


def current_config() -> AbConfig:
    row = db.session.get(AbSetting, SETTINGS_ID)
    if row is None:
        return default_config()
    return AbConfig(row.experiment, row.mode, tuple(Arm(a["alias"], float(a["weight"])) for a in row.arms))


def save_config(config: AbConfig, user_id: int | None) -> AbConfig:
    row = db.session.get(AbSetting, SETTINGS_ID)
    arms = [{"alias": a.alias, "weight": a.weight} for a in config.arms]
    if row is None:
        row = AbSetting(id=SETTINGS_ID, experiment=config.experiment, mode=config.mode, arms=arms)
        db.session.add(row)
    else:
        row.experiment, row.mode, row.arms = config.experiment, config.mode, arms
    row.updated_by = user_id
    db.session.commit()
    return config


def sticky_fraction(user_id: int | str, experiment: str) -> float:
    """A stable number in [0, 1) for (user, experiment): the same user always lands the same."""
    digest = hashlib.sha256(f"{experiment}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def sticky_arm(user_id: int | str, config: AbConfig) -> str:
    total = sum(a.weight for a in config.arms)
    point = sticky_fraction(user_id, config.experiment) * total
    upto = 0.0
    live = [a for a in config.arms if a.weight > 0]
    for arm in live:
        upto += arm.weight
        if point < upto:
            return arm.alias
    return live[-1].alias  # float rounding at the very top of the range


def arm_feedback_counts(experiment: str, cap: int | None = None) -> dict[str, tuple[int, int]]:
    """{arm: (correct, incorrect)} from feedback on this experiment's predictions, each user's
    first FEEDBACK_USER_CAP verdicts per arm only (app/feedback/capped.py)."""
    verdicts = capped_verdicts(
        Prediction.ab_arm, Prediction.ab_experiment == experiment, Prediction.ab_arm.is_not(None), cap=cap
    )
    rows = db.session.execute(
        select(
            verdicts.c.key,
            func.sum(case((verdicts.c.correct.is_(True), 1), else_=0)),
            func.sum(case((verdicts.c.correct.is_(False), 1), else_=0)),
        ).group_by(verdicts.c.key)
    ).all()
    return {arm: (int(ok or 0), int(bad or 0)) for arm, ok, bad in rows}


def posterior_counts(experiment: str) -> dict[str, tuple[int, int]]:
    """arm_feedback_counts, read at most once per AB_POSTERIOR_CACHE_SECONDS by this process: the
    aggregate scans the experiment's feedback, too much for every request (a bandit a second
    behind is as good)."""
    cache = ab_posterior_cache()
    if cache is None:
        return arm_feedback_counts(experiment)
    return cache.get(("ab-posterior", experiment), lambda: arm_feedback_counts(experiment))


def thompson_arm(config: AbConfig, rng: random.Random | None = None) -> str:
    """Sample each arm's Beta(1 + correct, 1 + incorrect) posterior and take the best draw.

    Arms with weight 0 are switched off; weights play no other part in this mode.
    """
    rng = rng or random.SystemRandom()
    counts = posterior_counts(config.experiment)
    best, best_draw = None, -1.0
    for arm in config.arms:
        if arm.weight <= 0:
            continue
        ok, bad = counts.get(arm.alias, (0, 0))
        draw = rng.betavariate(1 + ok, 1 + bad)
        if draw > best_draw:
            best, best_draw = arm.alias, draw
    assert best is not None  # validate_arms guarantees a positive weight
    return best


def choose_arm(user_id: int, config: AbConfig | None = None) -> tuple[AbConfig, str]:
    config = config or current_config()
    if config.mode == "thompson":
        return config, thompson_arm(config)
    return config, sticky_arm(user_id, config)
