"""The promotion gate: a pure decision from the figures, and its application
to the registry (the alias moves last, the decision tags after it)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from mlflow import MlflowClient

from app.ml import registry

log = logging.getLogger(__name__)


class Promotion(NamedTuple):
    promoted: bool
    reason: str


def decide_promotion(
    target: str | None,
    *,
    new: dict[str, float],
    current: dict[str, float | None] | None,
    current_version: str | None,
    margin: float,
) -> Promotion:
    """Pure promotion decision: every score of ``new`` (holdout, real-world) must be
    at least the current version's plus ``margin``."""
    scores = ", ".join(f"{name} {value:.4f}" for name, value in new.items())
    if target is None:
        return Promotion(False, f"not promoted: no target alias requested ({scores})")
    if current is None or any(current.get(name) is None for name in new):
        return Promotion(True, f"promoted to {target}: alias did not exist ({scores})")
    checks = [(name, value, float(current[name])) for name, value in new.items()]
    promoted = all(value >= old + margin for _, value, old in checks)
    verdicts = "; ".join(
        f"{name} {value:.4f} {'>=' if value >= old + margin else '<'} current version {current_version}'s "
        f"{old:.4f} + margin {margin:g}"
        for name, value, old in checks
    )
    return Promotion(promoted, f"{'promoted to' if promoted else 'rejected for'} {target}: {verdicts}")


def apply_promotion(
    client: MlflowClient,
    decision: Promotion,
    *,
    target: str | None,
    current: Any,
    version: str,
    run_id: str,
    name: str,
    progress: Callable[[int, str], None],
) -> None:
    """Move the alias (and the champion with it) when promoted, then tag the decision."""
    if decision.promoted:
        progress(95, f"moving alias {target} to version {version}")
        registry.set_alias(client, target, version, name)
        # The champion is "the best serving version": when it was the version just replaced
        # (v2 is also champion after bootstrap), it follows the promotion.
        champion = registry.get_alias_version(client, registry.CHAMPION, name)
        if (
            target != registry.CHAMPION
            and current is not None
            and champion is not None
            and str(champion.version) == str(current.version)
        ):
            registry.set_alias(client, registry.CHAMPION, version, name)
    # The tags state a fact, so they are written only once it is one: after the alias moved. A
    # process killed before this point leaves an untagged version, never a "promoted" one whose
    # alias stayed where it was.
    # Best effort: the alias (and the job row) are the truth; a failed tag write must not turn a
    # done promotion into a failed job.
    promoted = str(decision.promoted).lower()
    try:
        client.set_tag(run_id, "promotion_decision", decision.reason)
        client.set_tag(run_id, "promoted", promoted)
        client.set_model_version_tag(name, version, "promotion_decision", decision.reason)
        client.set_model_version_tag(name, version, "promoted", promoted)
    except Exception:  # noqa: BLE001 - see above
        log.warning("could not tag version %s with its promotion decision", version, exc_info=True)
