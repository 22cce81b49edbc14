"""The promotion gate: a pure decision from the figures, and its application
to the registry (the alias moves last, the decision tags after it).

The gate (issue 14 item 5): a candidate is promoted only when, against the version
serving the target alias,
- every measure is at least that version's plus ``margin``: the MNIST holdout, the
  real-world set and, when feedback was held out, the held-out feedback-labelled
  images (real traffic). The feedback measure is *paired*: both versions score the
  same images, so the comparison is the count of discordant images (``Paired``);
- and at least one measure is strictly better: a tie everywhere (an identical
  retrain) never promotes.
An exact McNemar p-value on the discordant images is reported in the reason to say
how much the feedback comparison means; it does not decide (a few dozen held-out
images could never reach significance).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from mlflow import MlflowClient

from app.ml import registry

log = logging.getLogger(__name__)


class Promotion(NamedTuple):
    promoted: bool
    reason: str


class Paired(NamedTuple):
    """Candidate and serving version on the same held-out feedback images."""

    n: int  # images scored by both
    candidate_only: int  # right by the candidate, wrong by the serving version
    serving_only: int  # wrong by the candidate, right by the serving version

    @property
    def difference(self) -> float:
        """Candidate's accuracy minus the serving version's on these images."""
        return (self.candidate_only - self.serving_only) / self.n if self.n else 0.0

    @property
    def p_value(self) -> float:
        """Exact two-sided McNemar p-value of the discordant images (1.0 without any)."""
        k, m = self.candidate_only, self.candidate_only + self.serving_only
        if m == 0:
            return 1.0
        tail = sum(math.comb(m, i) for i in range(min(k, m - k) + 1)) / 2**m
        return min(1.0, 2 * tail)


def paired_counts(candidate_pred: np.ndarray, serving_pred: np.ndarray, y: np.ndarray) -> Paired:
    """Discordant counts of two versions' predictions of the same labelled images."""
    cand_ok = np.asarray(candidate_pred) == np.asarray(y)
    serv_ok = np.asarray(serving_pred) == np.asarray(y)
    return Paired(int(len(cand_ok)), int((cand_ok & ~serv_ok).sum()), int((~cand_ok & serv_ok).sum()))


def _verdicts(
    new: dict[str, float], current: dict[str, float | None], paired: Paired | None, margin: float
) -> list[tuple[str, bool, bool, str]]:
    """(measure, passes, strictly better, text) per measure."""
    out = []
    for name, value in new.items():
        old = float(current[name])  # type: ignore[arg-type] - checked by the caller
        ok = value >= old + margin
        text = f"{name} {value:.4f} {'>=' if ok else '<'} {{cur}}'s {old:.4f} + margin {margin:g}"
        out.append((name, ok, value > old, text))
    if paired is not None and paired.n:
        ok = paired.difference >= margin
        text = (
            f"feedback {paired.n} held-out images: {paired.candidate_only} fixed, {paired.serving_only} "
            f"broken vs {{cur}} ({paired.difference:+.4f} {'>=' if ok else '<'} margin {margin:g}, "
            f"McNemar p={paired.p_value:.3g})"
        )
        out.append(("feedback", ok, paired.candidate_only > paired.serving_only, text))
    return out


def decide_promotion(
    target: str | None,
    *,
    new: dict[str, float],
    current: dict[str, float | None] | None,
    current_version: str | None,
    margin: float,
    paired: Paired | None = None,
) -> Promotion:
    """Pure promotion decision (see the module's docstring): every measure of ``new``
    (holdout, real-world) and the paired feedback comparison at least the current
    version's plus ``margin``, and one of them strictly better."""
    scores = ", ".join(f"{name} {value:.4f}" for name, value in new.items())
    if target is None:
        return Promotion(False, f"not promoted: no target alias requested ({scores})")
    if current is None or any(current.get(name) is None for name in new):
        return Promotion(True, f"promoted to {target}: alias did not exist ({scores})")
    checks = _verdicts(new, current, paired, margin)
    cur = f"current version {current_version}"
    text = "; ".join(t.format(cur=cur) for _, _, _, t in checks)
    if not all(ok for _, ok, _, _ in checks):
        return Promotion(False, f"rejected for {target}: {text}")
    if not any(better for _, _, better, _ in checks):
        return Promotion(False, f"rejected for {target}: a tie, no measure better than {cur}'s; {text}")
    return Promotion(True, f"promoted to {target}: {text}")


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
    move: registry.AliasMover | None = None,
) -> None:
    """Move the alias (and the champion with it) when promoted, then tag the decision.
    Every move goes through ``move`` (the app's ``move_alias``: registry + history)."""
    move = move or registry.registry_mover(client, name)
    if decision.promoted:
        progress(95, f"moving alias {target} to version {version}")
        move(target, version, decision.reason)
        # The champion is "the best serving version": when it was the version just replaced
        # (v2 is also champion after bootstrap), it follows the promotion.
        champion = registry.get_alias_version(client, registry.CHAMPION, name)
        if (
            target != registry.CHAMPION
            and current is not None
            and champion is not None
            and str(champion.version) == str(current.version)
        ):
            move(registry.CHAMPION, version, f"champion follows {target}: {decision.reason}")
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
