from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.timeutil import utcnow

ROLES = ("user", "admin")


def _new_stamp() -> str:
    from app.auth.tokens import new_stamp  # in the function: tokens imports this module

    return new_stamp()


class User(db.Model):
    __tablename__ = "users"
    # AUTOINCREMENT: SQLite would otherwise hand a deleted user's id to the next account (and with
    # it the old tokens); PostgreSQL sequences never reuse ids anyway.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    email: Mapped[str | None] = mapped_column(String(255), nullable=True)
    password_hash: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16), default="user")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Bound into every token (claim `stm`); a new value kills all the user's tokens at once.
    token_stamp: Mapped[str] = mapped_column(String(32), default=_new_stamp)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


# "racer" and "Racer" are one name: unique without regard to case (logins match it the same way).
Index("uq_users_username_lower", func.lower(User.username), unique=True)


class RevokedToken(db.Model):
    """Blocklist of revoked JWTs (used when Redis is not configured)."""

    __tablename__ = "revoked_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    jti: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    token_type: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
