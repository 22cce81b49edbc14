from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String
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
