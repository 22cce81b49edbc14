"""Every alias move goes through ``move_alias``: the MLflow alias, then the history row.

Order: the registry is the truth for where an alias points, so the alias is set first and the
row written after it. A crash (or a failed commit) between the two leaves a moved alias without
its row, never a row for a move that did not happen; ``rollback_target`` notices such a gap (the
alias is not where its newest row says) and rolls back to the newest recorded version.

Rollback is a stack: each rollback undoes the newest move not yet undone, so a second rollback
goes back further (3 -> 5 -> 7, rollback: 5, rollback: 3), and a new promotion starts a new top.
Only moves with source "rollback" undo an older move; any other move (a staged rollout's own
automatic rollback included, unless it passes source="rollback") is one a rollback can undo.
Rollbacks of one alias are serialised by a database lease (every worker and host): two at the
same instant would read the same target and record two rollbacks for one step back, so the next
rollback would skip a version. The one that finds the lease taken answers 409
rollback_in_progress; the admin tries again once the first has finished.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import current_app
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sqlalchemy import Select, select

from app.aliases.models import SOURCES, AliasMove
from app.errors import ApiError
from app.extensions import db
from app.ml import registry
from app.ml.errors import ModelUnavailable

log = logging.getLogger(__name__)


def _registry() -> tuple[MlflowClient, str]:
    cfg = current_app.config
    return registry.client_for(cfg["MLFLOW_TRACKING_URI"]), cfg["MODEL_NAME"]


def move_alias(
    alias: str, version: str, *, reason: str, actor_id: int | None = None, source: str = "admin"
) -> AliasMove:
    """Point ``alias`` at ``version`` in the registry and record the move (needs an app context).

    ``source`` is one of SOURCES; ``actor_id`` the user who asked (None: the system). Raises
    ValueError for a bad source or alias name and MlflowException when the registry refuses; the
    returned row is unsaved only when the history could not be written (logged).
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    client, name = _registry()
    before = registry.get_alias_version(client, alias, name)
    registry.set_alias(client, alias, str(version), name)
    row = AliasMove(
        alias=alias,
        from_version=str(before.version) if before is not None else None,
        to_version=str(version),
        reason=reason,
        source=source,
        actor_id=actor_id,
    )
    try:
        db.session.add(row)
        db.session.commit()
    except Exception:  # noqa: BLE001 - the alias moved (the truth); a lost row is a logged gap
        db.session.rollback()
        log.exception("alias %s moved to version %s but its history row was not written", alias, version)
    return row


def mover(source: str, actor_id: int | None = None) -> registry.AliasMover:
    """``move_alias`` as the ``move(alias, version, reason)`` callable app/ml takes."""

    def move(alias: str, version: str, reason: str) -> AliasMove:
        return move_alias(alias, version, reason=reason, actor_id=actor_id, source=source)

    return move


def rollback_target(alias: str, current: str) -> str | None:
    """The version ``alias`` pointed at before its newest move not yet rolled back (None: none)."""
    moves = db.session.scalars(
        select(AliasMove).where(AliasMove.alias == alias).order_by(AliasMove.id.desc())
    )
    pending = 0  # rollbacks seen, each undoing one older move
    for i, move in enumerate(moves):
        if i == 0 and move.to_version != current:
            return move.to_version  # moved outside the history (by hand, or a lost row): undo that
        if move.source == "rollback":
            pending += 1
        elif pending:
            pending -= 1
        else:
            return move.from_version
    return None


def _current(client: MlflowClient, alias: str, name: str) -> Any:
    try:
        mv = registry.get_alias_version(client, alias, name)
    except ValueError:  # not an alias name at all
        mv = None
    except MlflowException as exc:
        raise ModelUnavailable(f"model registry unavailable: {exc.message}") from exc
    if mv is None:
        raise ApiError(404, f"Alias {alias!r} does not exist.", "alias_not_found")
    return mv


# Longer than any rollback takes (a few registry calls); a worker that dies holding the lease
# blocks further rollbacks of that alias for at most this long.
ROLLBACK_LEASE_SECONDS = 60.0


@contextmanager
def rollback_lease(alias: str) -> Iterator[None]:
    """Hold ``alias``'s rollback lease for the block, or raise 409 rollback_in_progress."""
    from app.policy import lease  # here: app.policy's package imports the predict side, which imports us

    name = f"rollback:{alias}"[:64]  # the lease's key length; longer aliases may share one
    holder = lease.new_holder()
    if not lease.acquire(name, holder, ROLLBACK_LEASE_SECONDS):
        raise ApiError(
            409,
            f"Another rollback of {alias} is in progress; try again when it has finished.",
            "rollback_in_progress",
        )
    try:
        yield
    finally:
        lease.release(name, holder)


def rollback(alias: str, actor_id: int | None) -> dict[str, Any]:
    """Move ``alias`` back one step (``rollback_target``); the champion follows when it pointed
    at the version rolled back from, as it followed the promotion. One at a time per alias."""
    client, name = _registry()
    _current(client, alias, name)  # 404 before a lease is taken for a name that is no alias
    with rollback_lease(alias):
        return _roll_back(client, name, alias, actor_id)


def _roll_back(client: MlflowClient, name: str, alias: str, actor_id: int | None) -> dict[str, Any]:
    current = str(_current(client, alias, name).version)
    target = rollback_target(alias, current)
    if target is None or target == current:
        raise ApiError(
            409, f"Nothing to roll back to: {alias} has no earlier version.", "nothing_to_roll_back"
        )
    try:
        client.get_model_version(name, target)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise ModelUnavailable(f"model registry unavailable: {exc.message}") from exc
        raise ApiError(409, f"Version {target} is gone from the registry.", "version_gone") from None
    reason = f"rollback of {alias} from version {current} to {target}"
    try:
        move = move_alias(alias, target, reason=reason, actor_id=actor_id, source="rollback")
        champion = registry.get_alias_version(client, registry.CHAMPION, name)
        champion_move = None
        if alias != registry.CHAMPION and champion is not None and str(champion.version) == current:
            champion_move = move_alias(
                registry.CHAMPION,
                target,
                reason=f"champion follows {reason}",
                actor_id=actor_id,
                source="rollback",
            )
    except MlflowException as exc:
        raise ModelUnavailable(f"model registry unavailable: {exc.message}") from exc
    return {
        "alias": alias,
        "from_version": current,
        "to_version": target,
        "move": move,
        "champion": champion_move,
    }


def history_query(alias: str | None = None) -> Select:
    """Alias moves, newest first (of one alias, or all)."""
    stmt = select(AliasMove).order_by(AliasMove.id.desc())
    return stmt if alias is None else stmt.where(AliasMove.alias == alias)


def alias_known(alias: str) -> bool:
    """The alias exists in the registry or has a history."""
    if db.session.scalar(select(AliasMove.id).where(AliasMove.alias == alias).limit(1)) is not None:
        return True
    client, name = _registry()
    try:
        return alias in registry.registry_aliases(client, name)
    except MlflowException as exc:
        raise ModelUnavailable(f"model registry unavailable: {exc.message}") from exc
