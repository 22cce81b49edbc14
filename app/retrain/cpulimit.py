"""A CPU cap for the retrain worker: a Linux cgroup with a CFS bandwidth quota.

Priority alone does not protect serving on this kind of machine: with a busy loop in Linux's idle
scheduling class beside it, the API answered 40 % fewer requests at 8 clients and its p99 doubled
(measured; nice 19 the same), although the loop only ran when a core was otherwise idle. What
helps is using less CPU: the same loop held to 25 % of one core cost 5 % of throughput and about
1.15x on p99; at 50 %, 1.6x on p99. So the worker puts itself in a cgroup capped at
RETRAIN_CPU_SHARE of one core (default 0.3: a full-data retrain takes ~3x longer, ~25 s here).

Needs a writable cgroup filesystem (root, or a delegated cgroup): cgroup v1's cpu controller or
cgroup v2 with the cpu controller enabled at the root. Elsewhere it logs why and the worker runs
uncapped at idle priority; in a container, give the worker service a CPU limit instead
(docker-compose.yml does). Every retrain worker of the machine shares the one cgroup, so the cap
holds for all of them together.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

NAME = "digitserve-retrain"
PERIOD_US = 50_000  # short periods: the worker's bursts stay short (serving waits less behind them)
CGROUP_ROOT = Path("/sys/fs/cgroup")


def _v1(quota: int) -> Path | None:
    cpu = CGROUP_ROOT / "cpu"
    if not (cpu / "cpu.cfs_quota_us").exists():
        return None
    group = cpu / NAME
    group.mkdir(exist_ok=True)
    (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
    (group / "cpu.cfs_quota_us").write_text(str(quota))
    (group / "cgroup.procs").write_text(str(os.getpid()))  # the whole process, every thread
    return group


def _v2(quota: int) -> Path | None:
    controllers = CGROUP_ROOT / "cgroup.subtree_control"
    if not controllers.exists() or "cpu" not in controllers.read_text().split():
        return None
    group = CGROUP_ROOT / NAME
    group.mkdir(exist_ok=True)
    (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
    (group / "cgroup.procs").write_text(str(os.getpid()))
    return group


def limit_cpu(share: float) -> Path | None:
    """Cap this process (and the children it starts) at `share` of one core; the cgroup used, or
    None when `share` is 0 (no cap) or no writable cgroup with a CPU controller exists here."""
    if share <= 0:
        return None
    quota = max(1000, int(share * PERIOD_US))
    try:
        group = _v1(quota) or _v2(quota)
    except OSError as exc:
        log.warning("retrain CPU cap not applied (%s); the worker runs at idle priority only", exc)
        return None
    if group is None:
        log.warning("retrain CPU cap not applied: no cgroup CPU controller here")
        return None
    log.info("retrain worker %s capped at %.0f %% of a core (%s)", os.getpid(), share * 100, group)
    return group


def current_cap(pid: int | str = "self") -> float | None:
    """A process's CPU cap in cores (from its cgroup), or None when uncapped or unknown."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "cpu" in controllers.split(",") and (CGROUP_ROOT / "cpu" / path.lstrip("/")).is_dir():
            group = CGROUP_ROOT / "cpu" / path.lstrip("/")
            quota = int((group / "cpu.cfs_quota_us").read_text())
            period = int((group / "cpu.cfs_period_us").read_text())
            return None if quota < 0 else quota / period
        if controllers == "" and (CGROUP_ROOT / path.lstrip("/") / "cpu.max").exists():
            quota, period = (CGROUP_ROOT / path.lstrip("/") / "cpu.max").read_text().split()
            return None if quota == "max" else int(quota) / int(period)
    return None
