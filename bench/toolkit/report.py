"""Every bench prints its figures the same way: the figure, the ceiling measured in the same run, the ratio,
and the target; and saves them to ``bench/results/<bench>.json`` for ``docs/benchmarks.md`` and the plots."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent.parent / "results"


@dataclass
class Figure:
    name: str  # what was measured, e.g. "ingest: POST /api/jobs, 2 workers"
    value: float
    unit: str  # "jobs/s", "ms"
    ceiling: float | None = None
    ceiling_name: str = ""
    target: str = ""  # e.g. ">= 3000 jobs/s", "" when the issue sets none
    met: bool | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.ceiling is None or self.ceiling == 0:
            return None
        return self.value / self.ceiling


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = 0.0
    with contextlib.suppress(ValueError, OSError):
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "memory_gb": round(mem_gb, 1),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit.stdout.strip(),
    }


def emit(
    bench: str, command: str, figures: Sequence[Figure], extra: dict[str, Any] | None = None, quick: bool = False
) -> Path:
    """Print the figures as a table and save them (with the machine and the command) as JSON.

    A quick (smoke) run saves under ``results/quick/``, which docs/benchmarks.md does not read, so it never
    replaces the figures of a full run.
    """
    print(f"\n== {bench}  ({command})")
    print(f"{'figure':58} {'value':>12} {'ceiling':>12} {'ratio':>7}  target")
    for f in figures:
        verdict = "" if f.met is None else ("met" if f.met else "NOT met")
        print(
            f"{f.name[:58]:58} {_fmt(f.value):>12} {_fmt(f.ceiling):>12} "
            f"{_fmt(f.ratio):>7}  {f.target} {verdict}".rstrip()
            + f"   [{f.unit}{'; ceiling: ' + f.ceiling_name if f.ceiling_name else ''}]"
        )
    where = RESULTS / "quick" if quick else RESULTS
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"{bench}.json"
    payload = {
        "bench": bench,
        "command": command,
        "machine": machine(),
        "figures": [asdict(f) | {"ratio": f.ratio} for f in figures],
        **(extra or {}),
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of unsorted values; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-int(p * 1000) * len(ordered) // 1000))
    return ordered[min(rank, len(ordered)) - 1]
