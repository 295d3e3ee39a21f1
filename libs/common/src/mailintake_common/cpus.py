"""How many CPUs this process may really use: the cgroup CPU quota, else its affinity (issue 17).

`os.cpu_count()` counts the machine's cores, not what a container's CPU limit grants: a pod
limited to 2 CPUs on a 64-core node would start 64 OCR workers and be throttled. Read, in order:
cgroup v2 `cpu.max` ("max 100000" or "<quota> <period>") of this process's cgroup and each of its
parents (the tightest wins); cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us` (-1: none);
then `os.sched_getaffinity`, then `os.cpu_count()`. A fractional quota is rounded down (a pool
never asks for more CPU than it is granted), never below 1.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, ValueError):
        return None


def parse_cpu_max(text: str) -> float | None:
    """cgroup v2 `cpu.max`: CPUs granted, or None for no limit."""
    parts = text.split()
    if not parts or parts[0] == "max":
        return None
    try:
        quota = int(parts[0])
        period = int(parts[1]) if len(parts) > 1 else 100_000
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def parse_cfs(quota_text: str, period_text: str) -> float | None:
    """cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us`: CPUs granted, or None for no limit."""
    try:
        quota, period = int(quota_text), int(period_text)
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _own_paths(proc_self_cgroup: Path) -> tuple[str | None, str | None]:
    """This process's cgroup v2 path and cgroup v1 `cpu` controller path (from /proc/self/cgroup)."""
    v2 = v1 = None
    for line in (_read(proc_self_cgroup) or "").splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    return v2, v1


def _with_parents(base: Path, path: str | None) -> list[Path]:
    """`base/path`, then each parent up to `base` (a container sees its own cgroup as the root)."""
    parts = [p for p in (path or "").split("/") if p]
    return [base.joinpath(*parts[:n]) for n in range(len(parts), -1, -1)]


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP) -> float | None:
    """The CPUs the cgroup quota grants this process, or None when nothing limits it."""
    v2_path, v1_path = _own_paths(proc_self_cgroup)
    limits: list[float] = []
    for directory in _with_parents(root, v2_path):
        text = _read(directory / "cpu.max")
        if text is not None and (cpus := parse_cpu_max(text)) is not None:
            limits.append(cpus)
    if limits:
        return min(limits)
    for controller in ("cpu", "cpu,cpuacct", "cpuacct,cpu", ""):
        for directory in _with_parents(root / controller if controller else root, v1_path):
            quota, period = _read(directory / "cpu.cfs_quota_us"), _read(directory / "cpu.cfs_period_us")
            if quota is not None and period is not None and (cpus := parse_cfs(quota, period)) is not None:
                limits.append(cpus)
        if limits:
            return min(limits)
    return None


def schedulable_cpus() -> int:
    """CPUs this process may be scheduled on (affinity), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def available_cpus(root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP) -> int:
    """Worker processes a CPU-bound pool should start: the quota (rounded down, at least 1), at most the affinity."""
    cpus = schedulable_cpus()
    limit = cgroup_cpu_limit(root, proc_self_cgroup)
    if limit is not None:
        cpus = min(cpus, max(1, math.floor(limit)))
    return cpus
