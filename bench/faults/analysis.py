"""Pure arithmetic over what the receiver saw: lateness, losses, duplicates, recovery per fault, the timeline.

Kept apart from the orchestration so the definitions (documented in ``bench/faults/__init__.py``) can be read,
and checked, without a broker.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ON_TIME_NS = 1_000_000_000  # a delivery under 1 s late is on time
BIN_MS = 250


@dataclass(frozen=True)
class Delivery:
    """The first arrival of one job at the receiver."""

    seq: int
    due_ns: int  # planned due: planned creation time + delay
    at_ns: int  # first arrival

    @property
    def lateness_ns(self) -> int:
        return self.at_ns - self.due_ns


@dataclass(frozen=True)
class Window:
    """What one fault's window [start, end) says about it."""

    recovered_at_ns: int | None  # None: not recovered before the window closed
    late: int  # first deliveries in the window that were late
    max_lateness_ns: int  # over first deliveries in the window (0 when none)


def parse_path(path: str, tag: str) -> tuple[int, int] | None:
    """``/b/<tag>/<seq>/<due_ms>`` -> (seq, due_ms); None for anything else."""
    parts = path.split("/")
    if len(parts) != 5 or parts[1] != "b" or parts[2] != tag:
        return None
    try:
        return int(parts[3]), int(parts[4])
    except ValueError:
        return None


def first_deliveries(arrivals: Iterable[tuple[int, str]], tag: str) -> tuple[dict[int, Delivery], int]:
    """Each job's first arrival, and how many arrivals came on top of those (duplicate deliveries)."""
    first: dict[int, Delivery] = {}
    extra = 0
    for at_ns, path in sorted(arrivals):
        parsed = parse_path(path, tag)
        if parsed is None:
            continue
        seq, due_ms = parsed
        if seq in first:
            extra += 1
        else:
            first[seq] = Delivery(seq, due_ms * 1_000_000, at_ns)
    return first, extra


def window(
    deliveries: Sequence[Delivery],
    undelivered_due_ns: Sequence[int],
    start_ns: int,
    end_ns: int,
    on_time_ns: int = ON_TIME_NS,
) -> Window:
    """Recovery after a fault at ``start_ns``, judged on the first deliveries that arrive before ``end_ns``.

    ``deliveries``: every accepted job's first delivery, sorted by arrival. ``undelivered_due_ns``: planned due
    times of the accepted jobs that had not arrived by ``end_ns`` (late beyond the window, or lost).

    Recovered at the first on-time arrival R in the window after which no arrival in the window is late, provided
    the backlog is cleared: no accepted job due before ``end_ns - 1 s`` is still missing at the window's end (such
    a job was late whatever R is). Otherwise not recovered (``recovered_at_ns`` is None).
    """
    arrivals = [d.at_ns for d in deliveries]
    lo, hi = bisect.bisect_left(arrivals, start_ns), bisect.bisect_left(arrivals, end_ns)
    inside = deliveries[lo:hi]
    late = [d for d in inside if d.lateness_ns >= on_time_ns]
    max_late = max((d.lateness_ns for d in inside), default=0)
    candidates = [d for d in inside if d.at_ns > late[-1].at_ns] if late else inside
    backlog = any(due < end_ns - on_time_ns for due in undelivered_due_ns)
    recovered = candidates[0].at_ns if candidates and not backlog else None
    return Window(recovered, len(late), max(0, max_late))


def bins(times_ns: Iterable[int], t0_ns: int, count: int, bin_ms: int = BIN_MS) -> list[int]:
    """Counts per ``bin_ms`` bin from ``t0_ns``; times outside [t0, t0 + count bins) are left out."""
    out = [0] * count
    width = bin_ms * 1_000_000
    for t in times_ns:
        i = (t - t0_ns) // width
        if 0 <= i < count:
            out[i] += 1
    return out
