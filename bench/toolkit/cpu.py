"""CPU time of processes, read from ``/proc/<pid>/stat``: what a bench divides by the work done in a window.

``utime + stime`` of a process counts every one of its threads (librdkafka's, the JVM's GC and network threads),
in clock ticks (10 ms on Linux): a window of a few seconds at hundreds of deliveries a second resolves well
under a microsecond per delivery.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds ``pid`` has used so far; None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / TICKS_PER_SECOND


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds per named process at one moment, with the pid each name had (a restart changes it)."""

    seconds: dict[str, float]
    pids: dict[str, int]

    @classmethod
    def take(cls, pids: Mapping[str, int]) -> CpuSnapshot:
        seconds: dict[str, float] = {}
        for name, pid in pids.items():
            used = cpu_seconds(pid)
            if used is not None:
                seconds[name] = used
        return cls(seconds, dict(pids))

    def used_since(self, before: CpuSnapshot) -> dict[str, float]:
        """CPU seconds each process used between ``before`` and this snapshot; a process restarted in between (its
        pid changed) or gone is left out rather than counted wrong."""
        return {
            name: used - before.seconds[name]
            for name, used in self.seconds.items()
            if name in before.seconds and before.pids.get(name) == self.pids.get(name)
        }
