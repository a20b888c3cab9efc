"""Planned jobs for the delivery and lateness benches: created ahead in batches, each due at a known millisecond.

Each job's URL is ``/b/<tag>/<seq>/<due_ms>`` on the recording receiver, so an arrival says which job it is and
when it was due; ``run_at`` (chronohook's extension of Recuro's push) gives the due time to the millisecond.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from bench.toolkit.expect import expect_load
from bench.toolkit.load import LoadGenerator
from bench.toolkit.receiver import Arrival
from bench.toolkit.report import percentile

BATCH = 1000


@dataclass(frozen=True)
class Planned:
    seq: int
    due_ms: int


def rfc3339_ms(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Target(Protocol):
    """Where jobs are sent: a receiver (or any loopback host) that names the URL of a path."""

    def url(self, path: str) -> str: ...


def create(
    gen: LoadGenerator,
    base_url: str,
    auth: dict[str, str],
    receiver: Target,
    tag: str,
    plan: Sequence[Planned],
    concurrency: int = 2,
) -> float:
    """Create every planned job through ``POST /api/jobs/batch``; return the seconds it took.

    Raises ``BenchError`` unless every batch was answered 201.
    """
    bodies = []
    for start in range(0, len(plan), BATCH):
        jobs = [
            {
                "queue": f"bench-{p.seq % 8}",
                "url": receiver.url(f"/b/{tag}/{p.seq}/{p.due_ms}"),
                "run_at": rfc3339_ms(p.due_ms),
            }
            for p in plan[start : start + BATCH]
        ]
        bodies.append(json.dumps({"jobs": jobs}).encode())
    started = time.monotonic()
    result = gen.run(f"{base_url}/api/jobs/batch", bodies, headers=auth, concurrency=concurrency, max_seconds=300)
    expect_load(result, f"POST /api/jobs/batch ({tag})", total=len(bodies))
    return time.monotonic() - started


@dataclass
class Outcome:
    planned: int
    delivered: int  # distinct jobs that arrived
    duplicates: int  # arrivals beyond the first, per job
    lateness_ms: list[float]  # first arrival minus due, per delivered job
    first_ns: int
    last_ns: int
    arrivals_ns: list[int]  # every first arrival, sorted

    @property
    def missing(self) -> int:
        return self.planned - self.delivered

    def lateness(self, p: float) -> float:
        return percentile(self.lateness_ms, p)

    def window_rate(self, lo: float = 0.05, hi: float = 0.95) -> float:
        """Deliveries per second between the lo and hi quantiles of arrival: the sustained rate, ramps left out."""
        n = len(self.arrivals_ns)
        if n < 20:
            return 0.0
        a, b = int(n * lo), int(n * hi) - 1
        span = (self.arrivals_ns[b] - self.arrivals_ns[a]) / 1e9
        return (b - a) / span if span > 0 else 0.0


def outcome(arrivals: Sequence[Arrival], tag: str, plan: Sequence[Planned]) -> Outcome:
    due = {p.seq: p.due_ms for p in plan}
    first: dict[int, int] = {}
    duplicates = 0
    for a in arrivals:
        parts = a.parts  # ["", "b", tag, seq, due_ms]
        if len(parts) != 5 or parts[1] != "b" or parts[2] != tag:
            continue
        seq = int(parts[3])
        if seq in first:
            duplicates += 1
        else:
            first[seq] = a.at_ns
    times = sorted(first.values())
    return Outcome(
        planned=len(plan),
        delivered=len(first),
        duplicates=duplicates,
        lateness_ms=[(at / 1e6) - due[seq] for seq, at in first.items() if seq in due],
        first_ns=times[0] if times else 0,
        last_ns=times[-1] if times else 0,
        arrivals_ns=times,
    )


def per_second(arrivals_ns: Sequence[int], origin_ns: int, bin_ms: int = 250) -> list[float]:
    """Arrivals per second in bins of ``bin_ms`` from ``origin_ns``: the throughput-over-time series."""
    if not arrivals_ns:
        return []
    bins = [0] * ((max(arrivals_ns) - origin_ns) // (bin_ms * 1_000_000) + 1)
    for at in arrivals_ns:
        if at >= origin_ns:
            bins[(at - origin_ns) // (bin_ms * 1_000_000)] += 1
    return [c * 1000 / bin_ms for c in bins]
