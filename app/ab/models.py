from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.timeutil import utcnow


class AbSetting(db.Model):
    """The A/B settings an admin set at run time (one row). Absent: the AB_ARMS config applies.

    Kept in the database so every worker process routes with the same weights.
    """

    __tablename__ = "ab_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(16))
    arms: Mapped[list] = mapped_column(JSON)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class AbPhase(db.Model):
    """One phase of an experiment: a period with fixed arms, weights and mode. Saving new A/B
    settings starts the next phase; the report analyses the current one (mixing periods with
    different weights would compare users assigned under different rules).

    started_at NULL: the implicit first phase, from the experiment's first prediction (the
    configured AB_ARMS before any admin change). srm_alarmed_at: when this phase's SRM alarm was
    sent, so it is sent once per phase.
    """

    __tablename__ = "ab_phases"
    __table_args__ = (UniqueConstraint("experiment", "number", name="uq_ab_phases_experiment_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment: Mapped[str] = mapped_column(String(64), index=True)
    number: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(16))
    arms: Mapped[list] = mapped_column(JSON)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    started_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    srm_alarmed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
