"""Lateness: p50/p99/max of (arrival at the receiver minus due time) at 100, 1,000 and 2,000 due/s.

``python -m bench.lateness [--rates 100 1000 2000] [--seconds S] [--quick]``

For each rate, jobs are created ahead (``POST /api/jobs/batch`` with ``run_at``) so that they fall due evenly,
one every 1/rate seconds for S seconds, on the whole stack; the receiver records each arrival. The ceiling
row is the floor of the measurement itself: the lateness of a request the bench sends straight to the
receiver at its due time (the raw client, same machine, same load), so what remains is chronohook's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.toolkit.jobs import Planned, create, outcome
from bench.toolkit.load import LoadGenerator
from bench.toolkit.receiver import RecordingReceiver
from bench.toolkit.report import Figure, emit, percentile
from bench.toolkit.stack import BenchStack

SAMPLES_KEPT = 20_000


def direct_lateness(gen: LoadGenerator, receiver: RecordingReceiver, rate: float, seconds: float) -> list[float]:
    """The raw client sending each request at its due time, paced at ``rate``: the measurement's own floor."""
    n = max(1, int(rate * min(seconds, 3.0)))
    started_ms = time.time() * 1000
    gen.run(receiver.url("/direct"), [b"{}"] * n, concurrency=64, expect=200, rate=rate, max_seconds=seconds + 10)
    arrivals = [a for a in receiver.take() if a.path == "/direct"]
    # The generator paces request i at started + i/rate; that is its due time.
    return [
        a.at_ns / 1e6 - (started_ms + i * 1000 / rate) for i, a in enumerate(sorted(arrivals, key=lambda a: a.at_ns))
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=int, nargs="+", default=[100, 1_000, 2_000])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 due/s for 3 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.rates, args.seconds = [100, 1_000], 3.0
    figures: list[Figure] = []
    samples: dict[str, list[float]] = {}
    missing_total = 0
    with (
        tempfile.TemporaryDirectory(prefix="chronohook-bench-lateness-") as tmp,
        RecordingReceiver() as receiver,
        LoadGenerator() as gen,
        BenchStack(Path(tmp)) as stack,
    ):
        stack.warm_up(receiver.url("/warmup"), lambda: receiver.count() >= 1)
        receiver.take()
        for rate in args.rates:
            n = int(rate * args.seconds)
            start_ms = int(time.time() * 1000) + int(n / 4_000 * 1000) + 4_000
            plan = [Planned(i, start_ms + int(i * 1000 / rate)) for i in range(n)]
            tag = f"r{rate}"
            create(gen, stack.base_url, stack.auth, receiver, tag, plan)
            receiver.wait_for_count(n, timeout=start_ms / 1000 - time.time() + args.seconds + 60)
            result = outcome(receiver.take(), tag, plan)
            floor = direct_lateness(gen, receiver, rate, args.seconds)
            missing_total += result.missing
            samples[str(rate)] = result.lateness_ms[:SAMPLES_KEPT]
            floor_name = f"raw client sending at the due time, {rate}/s"
            for label, p in (("p50", 0.5), ("p99", 0.99), ("max", 1.0)):
                figures.append(
                    Figure(
                        f"lateness {label} at {rate:,} due/s",
                        result.lateness(p),
                        "ms",
                        percentile(floor, p),
                        floor_name,
                        detail={"jobs": n, "delivered": result.delivered, "duplicates": result.duplicates}
                        if label == "p50"
                        else {},
                    )
                )
            figures.append(
                Figure(
                    f"jobs not delivered at {rate:,} due/s",
                    float(result.missing),
                    "jobs",
                    target="= 0",
                    met=result.missing == 0,
                )
            )
    emit("lateness", "python -m bench.lateness", figures, extra={"lateness_samples": samples}, quick=args.quick)
    return 0 if missing_total == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
