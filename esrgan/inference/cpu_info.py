"""Facts about this CPU that choose an engine: its model name, its int8 dot-product instructions,
and how many of its cores are free right now.

Read from Linux's /proc (cpuinfo, stat); elsewhere the answers fall back to "unknown", "no VNNI"
and "every core free", which keeps `--int8` refused and `--backend auto` probing all threads.
"""

from __future__ import annotations

import functools
import os
import platform
import time
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
PROC_STAT = Path("/proc/stat")
# Instructions that multiply-accumulate int8 in one step: what makes int8 convolutions faster
# than fp32 (without them int8 runs through slower emulation and gains little or nothing).
INT8_DOT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
BUSY_SAMPLE_S = 0.1  # how long the free-core count looks at /proc/stat
FREE_IDLE_SHARE = 0.5  # a core idle at least half of that time counts as free


def _cpuinfo_field(name: str) -> str:
    try:
        for line in CPUINFO.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == name:
                return value.strip()
    except OSError:
        pass
    return ""


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The instruction-set flags the kernel lists for this CPU (empty where /proc/cpuinfo is missing)."""
    return frozenset(_cpuinfo_field("flags").split())


@functools.cache
def cpu_model() -> str:
    """The CPU's model name ('AMD EPYC ...'), else what `platform` knows."""
    return _cpuinfo_field("model name") or platform.processor() or "unknown CPU"


def int8_dot_flags(flags: frozenset[str] | None = None) -> list[str]:
    """Which of AVX512-VNNI, AVX-VNNI and AMX-INT8 this CPU has (`flags`: a given flag set)."""
    have = cpu_flags() if flags is None else flags
    return [f for f in INT8_DOT_FLAGS if f in have]


def usable_cores() -> list[int]:
    """The cores this process may run on (its affinity mask), in order."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def _core_times() -> dict[int, tuple[int, int]]:
    """(idle, total) jiffies per core from /proc/stat."""
    times = {}
    for line in PROC_STAT.read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            values = [int(v) for v in fields[:8]]
            times[int(name[3:])] = (values[3] + values[4], sum(values))  # idle + iowait
    return times


def free_cores(sample_s: float = BUSY_SAMPLE_S) -> int:
    """How many of the usable cores were mostly idle over the last `sample_s` seconds (at least 1).

    Measured, not taken from the load average (a one-minute mean that lags a job started a few
    seconds ago). Without /proc/stat: every usable core.
    """
    cores = usable_cores()
    try:
        before = _core_times()
        time.sleep(sample_s)
        after = _core_times()
    except (OSError, ValueError):
        return len(cores)
    deltas = [(a[0] - b[0], a[1] - b[1]) for c in cores if (b := before.get(c)) and (a := after.get(c))]
    return max(1, sum(total <= 0 or idle / total >= FREE_IDLE_SHARE for idle, total in deltas))
