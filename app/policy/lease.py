"""Database leases: exactly one process (of any number, on any host) holds a named lease at a time.

Acquiring and renewing are the same atomic UPDATE ... WHERE name = :name AND (expires_at < now OR
holder = :me): the database decides, on SQLite (under the workers' write lock) and PostgreSQL
(the row lock makes a concurrent UPDATE re-check the condition) alike. The holder renews on each
tick; a holder that dies stops renewing and anyone takes the lease once it has expired. Times are
each process's UTC clock: hosts must keep their clocks in sync to well under the lease length."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.filelock import nothing
from app.policy.models import SchedulerLease
from app.state import sqlite_write_lock
from app.timeutil import utcnow


def new_holder() -> str:
    """A holder name unique to this call, saying which host and process holds the lease."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _write(stmt: Any) -> int:
    """Execute and commit one statement under the SQLite workers' write lock; rows matched."""
    lock = sqlite_write_lock()
    with lock.hold() if lock is not None else nothing():
        result = db.session.execute(stmt)
        db.session.commit()
    return result.rowcount


def acquire(name: str, holder: str, seconds: float, now: datetime | None = None) -> bool:
    """Take or renew `name` for `seconds`: True only for the one holder the database chose."""
    now = now or utcnow()
    expires = now + timedelta(seconds=seconds)
    free_or_mine = or_(SchedulerLease.expires_at < now, SchedulerLease.holder == holder)
    stmt = (
        update(SchedulerLease)
        .where(SchedulerLease.name == name, free_or_mine)
        .values(holder=holder, expires_at=expires)
    )
    if _write(stmt) == 1:
        return True
    exists = db.session.scalar(select(SchedulerLease.name).where(SchedulerLease.name == name))
    db.session.commit()
    if exists is not None:
        return False  # held by another, not expired
    # The very first tick of a deployment: the row does not exist; the primary key lets one insert.
    lock = sqlite_write_lock()
    try:
        with lock.hold() if lock is not None else nothing():
            db.session.add(SchedulerLease(name=name, holder=holder, expires_at=expires))
            db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


def release(name: str, holder: str) -> None:
    """Give the lease up now (a stopping process), if this holder still has it."""
    past = utcnow() - timedelta(seconds=1)
    _write(
        update(SchedulerLease)
        .where(SchedulerLease.name == name, SchedulerLease.holder == holder)
        .values(expires_at=past)
    )


def holder_of(name: str) -> tuple[str, datetime] | None:
    """(holder, expires_at) of `name`, or None if it was never taken."""
    row = db.session.execute(
        select(SchedulerLease.holder, SchedulerLease.expires_at).where(SchedulerLease.name == name)
    ).first()
    return (row.holder, row.expires_at) if row is not None else None
