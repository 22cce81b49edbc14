"""Experiment statistics that stay valid however often they are looked at (pure: no Flask, no DB).

- Accuracy per arm is a ratio metric over users (the randomisation unit): each user contributes
  m_i verdicts (at most the per-user cap) of which c_i were right; the estimate is sum(c)/sum(m)
  and its variance comes from the delta method on per-user sums, so one very active user is not
  treated as many independent observations.
- Confidence sequences: Howard et al. (2021) Gaussian-mixture boundary, tuned like GrowthBook's
  sequential engine (`sequential_tuning_parameter` N*: the number of users at which the sequence
  is tightest). Valid at every look, so an admin may refresh the report after every feedback.
- Sample-ratio mismatch: Pearson's chi-square against the configured weights (one look) and
  Lindon & Malek's (2022) Dirichlet-multinomial mixture test (anytime-valid p-value).

docs/experiments.md gives the formulas and the A/A simulation behind the defaults.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as sps
from scipy.special import gammaln

ALPHA = 0.05
TUNING_USERS = 500  # N*: the CS is narrowest around this many users (GrowthBook's tuning parameter)
MIN_USERS = 5  # per arm before an interval is reported (the Gaussian approximation needs a few)
SRM_CHI2_ALPHA = 0.001  # GrowthBook's threshold for the one-look chi-square
SRM_SEQ_ALPHA = 0.01
SRM_CONCENTRATION = 100.0  # Dirichlet prior concentration around the expected split


def mixture_rho(alpha: float = ALPHA, tuning: float = TUNING_USERS) -> float:
    """Mixing scale rho that makes the boundary tightest at `tuning` units (Howard et al. eq. 3.7)."""
    log_term = -2.0 * math.log(alpha)
    return math.sqrt((log_term + math.log(log_term + 1.0)) / tuning)


def cs_half_width(variance: float, n: int, alpha: float = ALPHA, tuning: float = TUNING_USERS) -> float:
    """Half-width of the (1-alpha) Gaussian-mixture confidence sequence for a mean of `n` units
    whose per-unit variance is `variance`: sqrt(v) * sqrt(2(n r^2+1)/(n^2 r^2) * log(sqrt(n r^2+1)/alpha))."""
    if n <= 0:
        return math.inf
    r2 = mixture_rho(alpha, tuning) ** 2
    inner = 2.0 * (n * r2 + 1.0) / (n * n * r2) * math.log(math.sqrt(n * r2 + 1.0) / alpha)
    return math.sqrt(max(variance, 0.0)) * math.sqrt(inner)


@dataclass
class ArmAccumulator:
    """Running per-user sums of one arm: each user's first `cap` verdicts count, later ones not.

    Sufficient statistics for the ratio estimate and its delta-method variance: N users, sum m,
    sum c, sum m^2, sum c^2, sum c*m. `add` is O(1), so a simulation can look after every verdict.
    """

    cap: int
    per_user: dict = field(default_factory=dict)  # user -> [m, c]
    users: int = 0
    m: int = 0
    c: int = 0
    mm: int = 0
    cc: int = 0
    cm: int = 0

    def add(self, user: object, correct: bool) -> bool:
        """Count one verdict; False when the user has already reached the cap (ignored)."""
        mc = self.per_user.get(user)
        if mc is None:
            mc = self.per_user[user] = [0, 0]
            self.users += 1
        m_i, c_i = mc
        if m_i >= self.cap:
            return False
        y = 1 if correct else 0
        self.mm += 2 * m_i + 1
        self.cc += y * (2 * c_i + 1)
        self.cm += c_i + y * (m_i + 1)
        self.m += 1
        self.c += y
        mc[0], mc[1] = m_i + 1, c_i + y
        return True

    def accuracy(self) -> float | None:
        return self.c / self.m if self.m else None

    def unit_variance(self) -> float | None:
        """Per-user variance of the ratio (delta method), floored at the binomial variance a user
        with the mean number of verdicts would have: never claims more certainty than
        independent verdicts would give (guards against tiny all-right samples)."""
        if self.users < 2 or self.m == 0:
            return None
        p = self.c / self.m
        mbar = self.m / self.users
        resid = (self.cc - 2 * p * self.cm + p * p * self.mm) / (self.users - 1)
        shrunk = (self.c + 1) / (self.m + 2)
        return max(resid / (mbar * mbar), shrunk * (1 - shrunk) / mbar)


def arm_interval(acc: ArmAccumulator, alpha: float = ALPHA) -> tuple[float | None, float | None]:
    """(low, high) of the arm's accuracy confidence sequence; (None, None) below MIN_USERS."""
    var = acc.unit_variance()
    p = acc.accuracy()
    if var is None or p is None or acc.users < MIN_USERS:
        return None, None
    half = cs_half_width(var, acc.users, alpha)
    return max(0.0, p - half), min(1.0, p + half)


def difference_interval(
    a: ArmAccumulator, b: ArmAccumulator, alpha: float = ALPHA
) -> tuple[float | None, float | None, float | None]:
    """(estimate, low, high) for accuracy(a) - accuracy(b), unequal user counts allowed: the
    variance of the difference var_a/N_a + var_b/N_b is scaled to N = N_a + N_b units (GrowthBook)."""
    pa, pb = a.accuracy(), b.accuracy()
    if pa is None or pb is None:
        return None, None, None
    va, vb = a.unit_variance(), b.unit_variance()
    if va is None or vb is None or min(a.users, b.users) < MIN_USERS:
        return pa - pb, None, None
    n = a.users + b.users
    half = cs_half_width((va / a.users + vb / b.users) * n, n, alpha)
    return pa - pb, pa - pb - half, pa - pb + half


def excludes_zero(low: float | None, high: float | None) -> bool:
    return low is not None and high is not None and (low > 0 or high < 0)


def chi_square_srm(observed: Sequence[int], weights: Sequence[float]) -> float | None:
    """Pearson chi-square p-value of observed unit counts against the weights (None: < 2 arms or
    no units)."""
    total = sum(observed)
    if len(observed) < 2 or total == 0:
        return None
    wsum = sum(weights)
    expected = [total * w / wsum for w in weights]
    return float(sps.chisquare(observed, expected).pvalue)


def log_bayes_factor(counts: Sequence[int], probs: Sequence[float], concentration: float) -> float:
    """log BF of the Dirichlet(concentration * p) mixture against the multinomial(p) null."""
    alphas = [concentration * p for p in probs]
    a0, n = sum(alphas), sum(counts)
    value = gammaln(a0) - gammaln(a0 + n)
    for x, a, p in zip(counts, alphas, probs, strict=True):
        value += gammaln(a + x) - gammaln(a) - x * math.log(p)
    return float(value)


def sequential_srm(
    arrivals: Sequence[int], weights: Sequence[float], concentration: float = SRM_CONCENTRATION
) -> float:
    """Anytime-valid SRM p-value (Lindon & Malek 2022): min over looks of 1/BF, where the looks are
    every arrival of a unit in `arrivals` (arm indexes in order of each unit's assignment).
    Vectorised over the arrivals (numpy): one pass, no Python loop per unit."""
    if len(arrivals) == 0:
        return 1.0
    probs = np.asarray(weights, dtype=float) / float(sum(weights))
    alphas = concentration * probs
    onehot = np.zeros((len(arrivals), len(probs)))
    onehot[np.arange(len(arrivals)), np.asarray(arrivals)] = 1.0
    counts = np.cumsum(onehot, axis=0)
    n = np.arange(1, len(arrivals) + 1)
    log_bf = (
        gammaln(alphas.sum())
        - gammaln(alphas.sum() + n)
        + (gammaln(alphas + counts) - gammaln(alphas) - counts * np.log(probs)).sum(axis=1)
    )
    return float(min(1.0, math.exp(-max(0.0, float(log_bf.max())))))
