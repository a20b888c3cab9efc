"""Lateness: p50/p99/max of (arrival at the receiver minus due time) at 100, 1,000 and 2,000 due/s, and the CPU
each process spends per delivery.

``python -m bench.lateness [--rates 100 1000 2000] [--seconds S] [--quick]``

For each rate, jobs are created ahead (``POST /api/jobs/batch`` with ``run_at``) so that they fall due evenly,
one every 1/rate seconds for S seconds (60 by default: the issue's "for a minute"), on the whole stack; the
receiver records each arrival. The ceiling row is the floor of the measurement itself: the lateness of a request
the bench sends straight to the receiver at its due time (the raw client, same machine, same load), so what
remains is chronohook's.

CPU per delivery: each process's CPU seconds (``/proc/<pid>/stat``, every thread) over the steady middle of the
due window (its 10%-90%), divided by the deliveries the receiver saw in that window: timer, executor, projector,
ingest and the broker's JVM. Its ceiling is the raw client's CPU per request in the same run (the bench's own
load generator sending to the same receiver): what one Python process spends to send one request.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.toolkit.cpu import CpuSnapshot
from bench.toolkit.expect import expect_count, expect_load, guarded
from bench.toolkit.jobs import Planned, create, outcome
from bench.toolkit.load import LoadGenerator
from bench.toolkit.receiver import RecordingReceiver
from bench.toolkit.report import Figure, emit, percentile
from bench.toolkit.stack import BenchStack

SAMPLES_KEPT = 20_000
# The part of the due window whose CPU is counted: past the ramp-up, before the tail.
CPU_WINDOW = (0.1, 0.9)
# Well under half of the ~0.7 ms a delivery cost across the stack when the issue was filed (issue 10, item 5).
CPU_TARGET_MS = 0.35
STACK_PROCESSES = ("timer", "executor", "projector", "ingest", "broker")


def direct_lateness(
    gen: LoadGenerator, receiver: RecordingReceiver, rate: float, seconds: float
) -> tuple[list[float], float]:
    """The raw client sending each request at its due time, paced at ``rate``: the measurement's own floor.

    Returns the lateness of each request and the client's CPU milliseconds per request (the CPU ceiling).
    """
    n = max(1, int(rate * min(seconds, 3.0)))
    client = {"client": gen.pid()}
    before = CpuSnapshot.take(client)
    started_ms = time.time() * 1000
    result = gen.run(
        receiver.url("/direct"), [b"{}"] * n, concurrency=64, expect=200, rate=rate, max_seconds=seconds + 10
    )
    used = CpuSnapshot.take(client).used_since(before).get("client", float("nan"))
    expect_load(result, f"raw client at {rate}/s to the receiver", expect=200, total=n)
    arrivals = [a for a in receiver.take() if a.path == "/direct"]
    expect_count(len(arrivals), n, f"requests the receiver recorded from the raw client at {rate}/s")
    # The generator paces request i at started + i/rate; that is its due time.
    lateness = [
        a.at_ns / 1e6 - (started_ms + i * 1000 / rate) for i, a in enumerate(sorted(arrivals, key=lambda a: a.at_ns))
    ]
    return lateness, used * 1000 / max(1, len(arrivals))


# Issue 10, item 5: at every rate up to 2,000 due/s, whole stack on this machine.
LATENESS_TARGET_MS = {"p50": 5.0, "p99": 20.0}


def sleep_until(epoch_s: float) -> None:
    time.sleep(max(0.0, epoch_s - time.time()))


def cpu_per_delivery(
    stack: BenchStack, receiver: RecordingReceiver, start_s: float, seconds: float
) -> tuple[dict[str, float], int]:
    """CPU milliseconds per delivery of each process over the steady part of the due window; and the deliveries."""
    pids = {**stack.pids(), "receiver": receiver.pid}
    sleep_until(start_s + CPU_WINDOW[0] * seconds)
    before, count_before = CpuSnapshot.take(pids), receiver.count()
    sleep_until(start_s + CPU_WINDOW[1] * seconds)
    after, count_after = CpuSnapshot.take(pids), receiver.count()
    delivered = count_after - count_before
    used = after.used_since(before)
    return {name: used[name] * 1000 / max(1, delivered) for name in pids if name in used}, delivered


def cpu_figures(rate: int, per_delivery: dict[str, float], delivered: int, ceiling_ms: float) -> list[Figure]:
    ceiling_name = f"raw client's CPU per request to the same receiver, {rate}/s"
    figures = [
        Figure(f"CPU per delivery, {name}, at {rate:,} due/s", per_delivery[name], "ms", ceiling_ms, ceiling_name)
        for name in STACK_PROCESSES
        if name in per_delivery
    ]
    total = sum(per_delivery.get(name, 0.0) for name in STACK_PROCESSES)
    figures.append(
        Figure(
            f"CPU per delivery, whole stack, at {rate:,} due/s",
            total,
            "ms",
            ceiling_ms,
            ceiling_name,
            target=f"< {CPU_TARGET_MS} ms",
            met=total < CPU_TARGET_MS,
            detail={
                "deliveries_in_window": delivered,
                "receiver_ms_per_delivery": per_delivery.get("receiver"),
                "window": f"{CPU_WINDOW[0]:.0%}-{CPU_WINDOW[1]:.0%} of the due window",
            },
        )
    )
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    return guarded(lambda: run(argv))


def run(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=int, nargs="+", default=[100, 1_000, 2_000])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long jobs fall due at each rate")
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 due/s for 3 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.rates, args.seconds = [100, 1_000], 3.0
    figures: list[Figure] = []
    cpu: list[Figure] = []
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
            per_delivery, in_window = cpu_per_delivery(stack, receiver, start_ms / 1000, args.seconds)
            receiver.wait_for_count(n, timeout=start_ms / 1000 - time.time() + args.seconds + 60)
            result = outcome(receiver.take(), tag, plan)
            floor, client_ms = direct_lateness(gen, receiver, rate, args.seconds)
            cpu += cpu_figures(rate, per_delivery, in_window, client_ms)
            missing_total += result.missing
            samples[str(rate)] = result.lateness_ms[:SAMPLES_KEPT]
            floor_name = f"raw client sending at the due time, {rate}/s"
            for label, p in (("p50", 0.5), ("p99", 0.99), ("max", 1.0)):
                target_ms = LATENESS_TARGET_MS.get(label)
                figures.append(
                    Figure(
                        f"lateness {label} at {rate:,} due/s",
                        result.lateness(p),
                        "ms",
                        percentile(floor, p),
                        floor_name,
                        target="" if target_ms is None else f"<= {target_ms} ms",
                        met=None if target_ms is None else result.lateness(p) <= target_ms,
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
    emit("lateness", "python -m bench.lateness", figures + cpu, extra={"lateness_samples": samples}, quick=args.quick)
    return 0 if missing_total == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
