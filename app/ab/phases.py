"""Experiment phases: changing an experiment's arms, weights or mode starts a new phase.

A phase is the unit of analysis: users assigned under different weights (or by a bandit) are not
one randomised sample. The first phase of an experiment is implicit (no row, from its first
prediction) until a change or an SRM alarm needs it written down.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.ab.models import AbPhase
from app.ab.service import AbConfig, current_config
from app.extensions import db
from app.filelock import nothing
from app.state import sqlite_write_lock
from app.timeutil import utcnow


@dataclass(frozen=True)
class Phase:
    number: int
    mode: str
    arms: tuple[tuple[str, float], ...] | None  # None: weights unknown (no record, not current)
    started_at: datetime | None
    ended_at: datetime | None
    row_id: int | None
    srm_alarmed_at: datetime | None

    def to_dict(self) -> dict:
        return {
            "number": self.number,
            "mode": self.mode,
            "arms": None if self.arms is None else [{"alias": a, "weight": w} for a, w in self.arms],
            "started_at": self.started_at,
            "ended_at": self.ended_at,
        }


def _arms(config: AbConfig) -> list[dict]:
    return [{"alias": a.alias, "weight": a.weight} for a in config.arms]


def _rows(experiment: str) -> list[AbPhase]:
    return list(
        db.session.scalars(select(AbPhase).where(AbPhase.experiment == experiment).order_by(AbPhase.number))
    )


def note_change(previous: AbConfig, config: AbConfig, user_id: int | None) -> None:
    """Add (uncommitted: the settings' commit carries it) the phase `config` starts, when it
    differs from `previous`. The implicit first phase is written down first, so the old weights
    stay on record."""
    if previous == config:
        return
    rows = _rows(config.experiment)
    if not rows and previous.experiment == config.experiment:
        db.session.add(
            AbPhase(experiment=previous.experiment, number=1, mode=previous.mode, arms=_arms(previous))
        )
        number = 2
    else:
        number = rows[-1].number + 1 if rows else 1
    db.session.add(
        AbPhase(
            experiment=config.experiment,
            number=number,
            mode=config.mode,
            arms=_arms(config),
            started_at=utcnow(),
            started_by=user_id,
        )
    )


def phases_for(experiment: str) -> list[Phase]:
    """The experiment's phases, oldest first; the last is the current one."""
    rows = _rows(experiment)
    if not rows:
        config = current_config()
        known = config.experiment == experiment
        arms = tuple((a.alias, a.weight) for a in config.arms) if known else None
        return [Phase(1, config.mode, arms, None, None, None, None)]
    out = []
    for i, row in enumerate(rows):
        ended = rows[i + 1].started_at if i + 1 < len(rows) else None
        arms = tuple((a["alias"], float(a["weight"])) for a in row.arms)
        out.append(Phase(row.number, row.mode, arms, row.started_at, ended, row.id, row.srm_alarmed_at))
    return out


def claim_srm_alarm(experiment: str, phase: Phase) -> bool:
    """True once per phase: for the one caller that records this phase's SRM alarm."""
    if phase.srm_alarmed_at is not None:
        return False
    now = utcnow()
    lock = sqlite_write_lock()
    with lock.hold() if lock is not None else nothing():
        if phase.row_id is None:
            assert phase.arms is not None  # only a known phase is checked for SRM
            db.session.add(
                AbPhase(
                    experiment=experiment,
                    number=phase.number,
                    mode=phase.mode,
                    arms=[{"alias": a, "weight": w} for a, w in phase.arms],
                    srm_alarmed_at=now,
                )
            )
            try:
                db.session.commit()
                return True
            except IntegrityError:  # another worker wrote the row first: it sent the alarm
                db.session.rollback()
                return False
        done = db.session.execute(
            update(AbPhase)
            .where(AbPhase.id == phase.row_id, AbPhase.srm_alarmed_at.is_(None))
            .values(srm_alarmed_at=now)
        )
        db.session.commit()
        return done.rowcount == 1
