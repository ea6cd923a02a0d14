"""CPU seconds spent by named processes over a timed window, read from `/proc` (Linux).

Why: on a 2-core machine a throughput goal is also a CPU budget (2 CPU-seconds per second for
everything: clients, web servers, command path, PostgreSQL). Dividing each party's CPU by the
commands done says where the budget goes and how many commands the cores can carry at all,
whatever the disk does. Other people's processes on the machine are not counted.

A process tree (a PostgreSQL postmaster and its backends) is counted as its live members' own
time plus what its root reaped from members that ended (`cutime`/`cstime`), so backends that
come and go within the window are counted once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def _fields(pid: int) -> list[str] | None:
    """The fields after `comm` of /proc/PID/stat (None: gone); `comm` may hold spaces."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()


def own_seconds(pid: int) -> float:
    """User + system CPU of `pid` itself, all threads (0 if it is gone)."""
    fields = _fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def tree_seconds(root: int) -> float:
    """CPU of `root`, its live children and the children it has reaped (one level: enough for
    a postmaster, whose backends and helpers are all its direct children)."""
    fields = _fields(root)
    if fields is None:
        return 0.0
    reaped = (int(fields[13]) + int(fields[14])) / _TICKS
    children = [pid for pid in _pids() if parent_of(pid) == root]
    return own_seconds(root) + reaped + sum(own_seconds(pid) for pid in children)


def parent_of(pid: int) -> int | None:
    fields = _fields(pid)
    return None if fields is None else int(fields[1])


def _pids() -> Iterable[int]:
    return (int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit())


def machine_busy_seconds() -> float:
    """All CPUs' non-idle time since boot (everyone's, for the machine's load in the window)."""
    values = [int(v) for v in (PROC / "stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:8]) - idle) / _TICKS


@dataclass(frozen=True, slots=True)
class CpuSample:
    """CPU seconds per party at one moment; subtract two samples for a window."""

    seconds: Mapping[str, float]

    def __sub__(self, earlier: CpuSample) -> CpuSample:
        return CpuSample({k: v - earlier.seconds.get(k, 0.0) for k, v in self.seconds.items()})


class CpuMeter:
    """Samples the CPU of parties: single processes and process trees, by name.

    `machine` is every process on the machine (others' load included): it says how busy the
    cores were, not what this benchmark cost.
    """

    def __init__(self) -> None:
        self._processes: dict[str, list[int]] = {}
        self._trees: dict[str, int] = {}

    def process(self, party: str, pid: int) -> None:
        self._processes.setdefault(party, []).append(pid)

    def tree(self, party: str, root: int) -> None:
        self._trees[party] = root

    def sample(self) -> CpuSample:
        seconds = {
            party: sum(own_seconds(pid) for pid in pids) for party, pids in self._processes.items()
        }
        seconds.update({party: tree_seconds(root) for party, root in self._trees.items()})
        seconds["machine"] = machine_busy_seconds()
        return CpuSample(seconds)
