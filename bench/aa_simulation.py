"""A/A simulation: how often does the report name a winner when both arms are the same model?

Each simulated experiment has users split 50/50 (sticky: a user stays in one arm), each with
their own accuracy (users differ: some draw neatly, some do not) and a heavy-tailed number of
verdicts (Pareto: most send a few, a few send very many). Verdicts arrive in random order and
the report is consulted after EVERY verdict, as an admin refreshing the page would. A method's
false-winner rate is the share of experiments in which it named a winner at any look.

- new: the report's method (app/ab/stats.py), per user, capped at FEEDBACK_USER_CAP verdicts,
  winner once the anytime-valid confidence sequence on the difference excludes zero;
- old: the former report's pooled two-proportion z-test on all verdicts, p < 0.05.

    python -m bench.aa_simulation [--experiments 400] [--users 300] [--seed 1]

docs/experiments.md holds a run's table; tests/test_experiments.py runs a smaller seeded one.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from dataclasses import dataclass

from app.ab import stats

ALPHA = 0.05


def two_proportion_z_test(k1: int, n1: int, k2: int, n2: int) -> tuple[float | None, float | None]:
    """The former report's test: (z, two-sided p) for H0 p1 == p2, pooled standard error."""
    if n1 == 0 or n2 == 0:
        return None, None
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (k1 / n1 - k2 / n2) / se
    return z, math.erfc(abs(z) / math.sqrt(2))


@dataclass(frozen=True)
class Settings:
    experiments: int = 400
    users: int = 300
    cap: int = 20
    accuracy: float = 0.9  # mean accuracy of both arms (A/A: the same)
    user_concentration: float = 8.0  # users' accuracies ~ Beta(a*k, (1-a)*k): smaller k, more spread
    pareto_shape: float = 1.2  # verdicts per user ~ 1 + Pareto(shape), heavy-tailed
    max_verdicts: int = 300
    seed: int = 1


@dataclass
class Outcome:
    new_winner: bool
    old_winner: bool
    verdicts: int


def _users(rng: random.Random, s: Settings) -> list[tuple[int, float, int]]:
    """(arm, accuracy, verdicts) per user."""
    a, k = s.accuracy, s.user_concentration
    out = []
    for _ in range(s.users):
        arm = 0 if rng.random() < 0.5 else 1
        acc = rng.betavariate(a * k, (1 - a) * k)
        n = min(s.max_verdicts, int(rng.paretovariate(s.pareto_shape)))
        out.append((arm, acc, n))
    return out


def run_experiment(rng: random.Random, s: Settings) -> Outcome:
    """One A/A experiment, both methods consulted after every verdict."""
    users = _users(rng, s)
    events = [uid for uid, (_arm, _acc, n) in enumerate(users) for _ in range(n)]
    rng.shuffle(events)
    accs = (stats.ArmAccumulator(s.cap), stats.ArmAccumulator(s.cap))
    ok, total = [0, 0], [0, 0]
    new_winner = old_winner = False
    for uid in events:
        arm, acc, _n = users[uid]
        correct = rng.random() < acc
        ok[arm] += correct
        total[arm] += 1
        counted = accs[arm].add(uid, correct)
        if not old_winner and total[0] and total[1]:
            _z, p = two_proportion_z_test(ok[0], total[0], ok[1], total[1])
            old_winner = p is not None and p < ALPHA and ok[0] * total[1] != ok[1] * total[0]
        if not new_winner and counted:
            _est, low, high = stats.difference_interval(accs[0], accs[1])
            new_winner = stats.excludes_zero(low, high)
    return Outcome(new_winner, old_winner, len(events))


def simulate(s: Settings) -> dict:
    """False-winner rates of both methods over s.experiments A/A experiments."""
    rng = random.Random(s.seed)
    outcomes = [run_experiment(rng, s) for _ in range(s.experiments)]
    count = len(outcomes)
    return {
        "experiments": count,
        "new_false_winners": sum(o.new_winner for o in outcomes),
        "old_false_winners": sum(o.old_winner for o in outcomes),
        "new_rate": sum(o.new_winner for o in outcomes) / count,
        "old_rate": sum(o.old_winner for o in outcomes) / count,
        "mean_verdicts": sum(o.verdicts for o in outcomes) / count,
        "looks": sum(o.verdicts for o in outcomes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", type=int, default=Settings.experiments)
    parser.add_argument("--users", type=int, default=Settings.users)
    parser.add_argument("--cap", type=int, default=Settings.cap)
    parser.add_argument("--seed", type=int, default=Settings.seed)
    parser.add_argument(
        "--concentration", type=float, default=Settings.user_concentration, help="large: users alike"
    )
    args = parser.parse_args()
    s = Settings(
        experiments=args.experiments,
        users=args.users,
        cap=args.cap,
        seed=args.seed,
        user_concentration=args.concentration,
    )
    started = time.perf_counter()
    r = simulate(s)
    print(f"A/A simulation: {s}")
    print(f"({r['looks']} looks in all, {time.perf_counter() - started:.1f} s)\n")
    print("| method | false winners | rate |")
    print("|---|---|---|")
    old, new = "old: pooled z-test on verdicts, p<0.05", f"new: per-user confidence sequence, cap {s.cap}"
    for name, key in ((old, "old"), (new, "new")):
        wins = r[f"{key}_false_winners"]
        print(f"| {name}, every look | {wins} / {r['experiments']} | {r[f'{key}_rate']:.1%} |")


if __name__ == "__main__":
    main()
