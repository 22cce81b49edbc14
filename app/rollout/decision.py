"""The rollout's decisions from the paired evidence: pure (no DB, no Flask), so they are tested
with plain numbers.

The test: among labelled images where exactly one of the two versions is right (the discordant
pairs), p = P(candidate is the one right). H0 "not better" is p <= 1/2. The e-value

    E+_n = 2 * ∫_{1/2}^{1} p^k (1-p)^(n-k) dp / (1/2)^n      (k candidate wins of n discordant)

is a mixture likelihood ratio (uniform prior on p in [1/2, 1]): a non-negative supermartingale
under H0, so by Ville's inequality P(E+ ever reaches 1/alpha) <= alpha however often it is looked
at. That is what makes a decision after every feedback valid (a fixed-n test checked
continuously would not be). E- mirrors it for "worse" (prior on [0, 1/2]).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from scipy.special import betainc, betaincc, betaln

# Per-rollout thresholds (stored on the row); the defaults come from ROLLOUT_* settings.
THRESHOLD_KEYS = (
    "alpha",
    "min_discordant",
    "max_discordant",
    "shadow_min",
    "min_agreement",
    "canary_min",
    "full_min",
)


@dataclass(frozen=True)
class Evidence:
    shadowed: int = 0  # predictions scored by both versions
    agreed: int = 0  # ... on which both gave the same digit
    both_right: int = 0  # labelled pairs (feedback with the true digit)
    only_candidate: int = 0
    only_baseline: int = 0
    both_wrong: int = 0
    canary_served: int = 0  # predictions the candidate served in the canary stage
    full_served: int = 0  # ... in the full stage

    @property
    def labelled(self) -> int:
        return self.both_right + self.only_candidate + self.only_baseline + self.both_wrong

    @property
    def discordant(self) -> int:
        return self.only_candidate + self.only_baseline

    def to_dict(self, alpha: float) -> dict[str, Any]:
        n, lab = self.discordant, self.labelled
        return {
            **asdict(self),
            "labelled": lab,
            "discordant": n,
            "agreement_rate": round(self.agreed / self.shadowed, 4) if self.shadowed else None,
            "candidate_accuracy": round((self.both_right + self.only_candidate) / lab, 4) if lab else None,
            "baseline_accuracy": round((self.both_right + self.only_baseline) / lab, 4) if lab else None,
            "candidate_win_rate": round(self.only_candidate / n, 4) if n else None,
            "e_better": _rounded(e_value(self.only_candidate, n, better=True)),
            "e_worse": _rounded(e_value(self.only_candidate, n, better=False)),
            "e_threshold": round(1.0 / alpha, 4),
        }


def _rounded(x: float) -> float:
    return round(x, 4) if x < 1e12 else 1e12  # JSON-safe cap; far past any threshold


def e_value(wins: int, n: int, *, better: bool) -> float:
    """E+ (better=True) or E- of ``wins`` candidate wins among ``n`` discordant pairs."""
    if n == 0:
        return 1.0
    a, b = wins + 1, n - wins + 1
    # Mass of the Beta(a, b) on the half of [0, 1] the alternative covers.
    tail = betaincc(a, b, 0.5) if better else betainc(a, b, 0.5)
    if tail <= 0.0:
        return 0.0
    log_e = math.log(2.0) + betaln(a, b) + math.log(tail) + n * math.log(2.0)
    return math.exp(min(log_e, 700.0))


@dataclass(frozen=True)
class Decision:
    to_stage: str | None  # None: stay
    reason: str


def decide(stage: str, ev: Evidence, th: dict[str, Any]) -> Decision:
    """The next stage of an active rollout from its evidence, or stay where it is."""
    n, bar = ev.discordant, 1.0 / float(th["alpha"])
    e_worse = e_value(ev.only_candidate, n, better=False)
    e_better = e_value(ev.only_candidate, n, better=True)
    pairs = f"candidate right alone {ev.only_candidate}, baseline right alone {ev.only_baseline}"
    if n >= th["min_discordant"] and e_worse >= bar:
        return Decision("rolled_back", f"candidate worse: {pairs}; E- {e_worse:.1f} >= {bar:g}")
    if n >= th["max_discordant"] and e_better < bar:
        return Decision("rolled_back", f"not shown better after {n} discordant pairs ({pairs})")
    if stage == "shadow":
        if ev.shadowed < th["shadow_min"]:
            return Decision(None, f"shadowing: {ev.shadowed}/{th['shadow_min']} predictions")
        agreement = ev.agreed / ev.shadowed if ev.shadowed else 1.0
        if agreement < th["min_agreement"]:
            return Decision(
                "rolled_back", f"agreement {agreement:.3f} < {th['min_agreement']:g} with the served version"
            )
        return Decision("canary", f"agreement {agreement:.3f} over {ev.shadowed} shadowed predictions")
    if stage == "canary":
        if n >= th["min_discordant"] and e_better >= bar and ev.canary_served >= th["canary_min"]:
            return Decision("full", f"candidate better: {pairs}; E+ {e_better:.1f} >= {bar:g}")
        return Decision(None, f"canary: {pairs}; E+ {e_better:.2f}, E- {e_worse:.2f} (bar {bar:g})")
    if stage == "full" and ev.full_served >= th["full_min"]:
        return Decision("promoted", f"served {ev.full_served} predictions in full; {pairs}")
    return Decision(None, f"{stage}: {pairs}")
