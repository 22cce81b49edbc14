from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.extensions import db
from app.timeutil import utcnow

# Who moved an alias: the first bootstrap, a retrain's promotion, an admin's rollback, a staged
# rollout (promoting or rolling back by itself), or an admin by hand.
SOURCES = ("bootstrap", "retrain", "rollback", "rollout", "admin")


class AliasMove(db.Model):
    """One move of an alias in the model registry. MLflow holds where each alias points now;
    this table holds how it got there (the rollback walks it back)."""

    __tablename__ = "alias_moves"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), index=True)
    from_version: Mapped[str | None] = mapped_column(String(32), nullable=True)  # None: a new alias
    to_version: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

    actor: Mapped[User | None] = relationship(lazy="joined")
