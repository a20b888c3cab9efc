"""Fair slots: the cost of one acquire and release, against a bare ``asyncio.Semaphore`` in the same run.

``python -m bench.fairness [--quick]``

Two shapes, each timed for the executor's scheduler (``services.executor.fairness.FairSlots``) and for the one
semaphore it replaced, on the same event loop (uvloop when installed, as the executor runs):

* **uncontended**: one task, acquire and release in a loop; every acquire finds a free slot.
* **contended**: 1,024 tasks of 64 tenants on 128 hosts share 256 slots (32 per host); each holds its slot
  across one loop turn, so most acquires wait and most releases hand the slot to a waiter.

The figure is microseconds per acquire+release; the ceiling is the semaphore's, the ratio their quotient (above 1
is slower). Either way it is far below the cost of the HTTP request the slot guards (~1 ms on loopback).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager

from bench.toolkit.report import Figure, emit
from services.executor.fairness import FairSlots

Acquire = Callable[[str, str], AbstractAsyncContextManager[object]]


def _semaphore(total: int) -> Acquire:
    sem = asyncio.Semaphore(total)

    def acquire(tenant: str, host: str) -> AbstractAsyncContextManager[object]:
        del tenant, host
        return sem

    return acquire


def _fair(total: int, per_host: int) -> Acquire:
    slots = FairSlots(total, per_host)

    def acquire(tenant: str, host: str) -> AbstractAsyncContextManager[object]:
        return slots.acquire(tenant, host)

    return acquire


async def _uncontended(acquire: Acquire, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        async with acquire("tenant-a", "example.com"):
            pass
    return (time.perf_counter() - start) / n * 1e6


async def _contended(acquire: Acquire, tasks: int, rounds: int) -> float:
    async def worker(i: int) -> None:
        tenant, host = f"tenant-{i % 64}", f"host-{i % 128}"
        for _ in range(rounds):
            async with acquire(tenant, host):
                await asyncio.sleep(0)

    start = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(tasks)))
    return (time.perf_counter() - start) / (tasks * rounds) * 1e6


async def _measure(quick: bool) -> list[Figure]:
    n, rounds, repeats = (20_000, 5, 1) if quick else (200_000, 40, 3)
    best: dict[str, float] = {}
    runs: list[tuple[str, Callable[[], Awaitable[float]]]] = [
        ("uncontended fair", lambda: _uncontended(_fair(256, 32), n)),
        ("uncontended semaphore", lambda: _uncontended(_semaphore(256), n)),
        ("contended fair", lambda: _contended(_fair(256, 32), 1024, rounds)),
        ("contended semaphore", lambda: _contended(_semaphore(256), 1024, rounds)),
    ]
    for _ in range(repeats):  # interleaved, best of each: the machine is shared
        for name, run in runs:
            took = await run()
            best[name] = min(best.get(name, took), took)
    return [
        Figure(
            f"acquire+release, {shape}: FairSlots",
            best[f"{shape} fair"],
            "us",
            ceiling=best[f"{shape} semaphore"],
            ceiling_name="asyncio.Semaphore",
        )
        for shape in ("uncontended", "contended")
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        pass
    figures = asyncio.run(_measure(args.quick))
    emit("fairness", "python -m bench.fairness" + (" --quick" if args.quick else ""), figures, quick=args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
