"""Delivery: due jobs delivered to a local receiver per second, end to end, against the raw client's ceiling.

``python -m bench.delivery [--jobs N] [--quick]``

In one run: the **ceiling** is the raw HTTP/1.1 client (``bench/toolkit/load.py``, 64 keep-alive connections)
POSTing to the recording receiver as fast as it answers; the **figure** is the whole stack (broker, timer,
executor, projector, ingest) delivering N jobs created ahead of time (``POST /api/jobs/batch``) and all due at
the same millisecond, to the same receiver. The sustained rate is taken between the 5th and 95th percentile of
arrivals, so start-up and tail are left out; the time to deliver all N is printed too.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.toolkit.expect import expect_count, expect_load, guarded
from bench.toolkit.jobs import Planned, create, outcome, per_second
from bench.toolkit.load import LoadGenerator, LoadResult
from bench.toolkit.receiver import RecordingReceiver
from bench.toolkit.report import Figure, emit
from bench.toolkit.stack import BenchStack

TARGET = 3_000.0
TARGET_RATIO = 0.5


def raw_ceiling(gen: LoadGenerator, receiver: RecordingReceiver, n: int, path: str = "/ceiling") -> LoadResult:
    """The raw client POSTing ``n`` requests (64 connections, at most 60 s) to ``receiver``: the delivery ceiling.

    Raises ``BenchError`` unless every answer was a 200 and the receiver recorded each request answered; the
    ceiling's arrivals are taken out of the receiver's log.
    """
    result = gen.run(receiver.url(path), [b"{}"] * n, concurrency=64, expect=200, max_seconds=60)
    expect_load(result, f"raw client to the receiver ({path})", expect=200)
    recorded = sum(1 for a in receiver.take() if a.path == path)
    expect_count(recorded, result.ok, f"requests the receiver recorded at {path}")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    return guarded(lambda: run(argv))


def run(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=30_000)
    parser.add_argument("--quick", action="store_true", help="5,000 jobs")
    args = parser.parse_args(argv)
    n = 5_000 if args.quick else args.jobs
    with (
        tempfile.TemporaryDirectory(prefix="chronohook-bench-delivery-") as tmp,
        RecordingReceiver() as receiver,
        LoadGenerator() as gen,
        BenchStack(Path(tmp)) as stack,
    ):
        stack.warm_up(receiver.url("/warmup"), lambda: receiver.count() >= 1)
        ceiling = raw_ceiling(gen, receiver, n)
        due_ms = int(time.time() * 1000) + int(n / 4_000 * 1000) + 4_000
        plan = [Planned(i, due_ms) for i in range(n)]
        took = create(gen, stack.base_url, stack.auth, receiver, "d", plan)
        receiver.wait_for_count(n, timeout=max(60.0, due_ms / 1000 - time.time() + n / 200))
        result = outcome(receiver.take(), "d", plan)
    rate = result.window_rate()
    all_in = (result.last_ns / 1e6 - due_ms) / 1000 if result.delivered else float("nan")
    figures = [
        Figure(
            "deliveries/s sustained (all due at once)",
            rate,
            "deliveries/s",
            ceiling.per_second,
            "raw HTTP client, 64 connections, same receiver",
            f">= {TARGET:,.0f} and >= {TARGET_RATIO:.0%} of ceiling",
            rate >= TARGET and rate >= TARGET_RATIO * ceiling.per_second,
            {"jobs": n, "created_in_s": round(took, 2), "all_delivered_after_due_s": round(all_in, 2)},
        ),
        Figure("seconds from due to the last delivery", all_in, "s", detail={"jobs": n}),
        Figure("jobs not delivered", float(result.missing), "jobs", target="= 0", met=result.missing == 0),
        Figure("duplicate deliveries", float(result.duplicates), "deliveries"),
    ]
    origin = due_ms * 1_000_000
    emit(
        "delivery",
        "python -m bench.delivery",
        figures,
        extra={
            "throughput": {"bin_ms": 250, "origin_ns": origin, "per_second": per_second(result.arrivals_ns, origin)}
        },
        quick=args.quick,
    )
    return 0 if result.missing == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
