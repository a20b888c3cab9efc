"""Queue slots: the cost of one acquire and release of a queue's slot, against an in-process semaphore in the same run.

``python -m bench.queue_slots [--quick]``

Timed on one event loop, one task, acquire then release in a loop (every acquire finds a free slot):

* **SQLite**: ``QueueGate`` over ``SqlSlotStore`` on a WAL file (``make_engine``), as the executor runs it: the
  claim (a read, then an ``INSERT``/``UPDATE`` compare-and-set) and the release each in a worker thread.
* **memory**: the same gate over ``MemorySlotStore`` (the thread hand-over without a database).
* **semaphore**: ``asyncio.Semaphore(2)``, what a per-process bound would cost.

Plus the raw store calls without the event loop (claim, release), and a contended shape: 8 tasks on two gates
(two "processes") sharing one SQLite queue of 2 slots, each holding its slot across one loop turn.
The figure is microseconds per acquire+release; the ceiling is the semaphore's.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.toolkit.expect import BenchError, guarded
from bench.toolkit.report import Figure, emit
from chronohook.clock import SystemClock, to_ms
from chronohook.store.engine import create_schema, make_engine
from chronohook.store.queue_slots import MemorySlotStore, SlotQueue, SlotStore, SqlSlotStore
from services.executor.queue_gate import QueueGate


async def _gate(store: SlotStore, n: int) -> float:
    gate = QueueGate(store, SystemClock())
    start = time.perf_counter()
    for _ in range(n):
        held = await gate.acquire(SlotQueue("bench", 1), 2, 45)
        await gate.release(held)
    return (time.perf_counter() - start) / n * 1e6


async def _semaphore(n: int) -> float:
    sem = asyncio.Semaphore(2)
    start = time.perf_counter()
    for _ in range(n):
        async with sem:
            pass
    return (time.perf_counter() - start) / n * 1e6


def _raw(store: SlotStore, n: int) -> tuple[float, float]:
    claim = release = 0.0
    for i in range(n):
        now = to_ms(SystemClock().now())
        t0 = time.perf_counter()
        slot = store.claim(SlotQueue("bench", 2), 2, f"h{i}", now, now + 45_000)
        t1 = time.perf_counter()
        if slot is None:
            raise BenchError("SqlSlotStore.claim found no free slot in an empty queue")
        store.release(SlotQueue("bench", 2), slot, f"h{i}")
        release += time.perf_counter() - t1
        claim += t1 - t0
    return claim / n * 1e6, release / n * 1e6


async def _contended(store: SlotStore, tasks: int, rounds: int) -> float:
    gates = [QueueGate(store, SystemClock(), poll_min_seconds=0.001, poll_max_seconds=0.05) for _ in range(2)]

    async def worker(i: int) -> None:
        for _ in range(rounds):
            held = await gates[i % 2].acquire(SlotQueue("bench", 3), 2, 45)
            await asyncio.sleep(0)
            await gates[i % 2].release(held)

    start = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(tasks)))
    return (time.perf_counter() - start) / (tasks * rounds) * 1e6


async def _measure(quick: bool, path: Path) -> list[Figure]:
    n, repeats = (300, 1) if quick else (3_000, 3)
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    sql = SqlSlotStore(engine)
    best: dict[str, float] = {}
    try:
        for _ in range(repeats):  # interleaved, best of each: the machine is shared
            for name, took in (
                ("sqlite", await _gate(sql, n)),
                ("memory", await _gate(MemorySlotStore(), n)),
                ("semaphore", await _semaphore(n * 10)),
                ("contended", await _contended(sql, 8, max(10, n // 40))),
            ):
                best[name] = min(best.get(name, took), took)
            claim, release = _raw(sql, n)
            best["raw claim"] = min(best.get("raw claim", claim), claim)
            best["raw release"] = min(best.get("raw release", release), release)
    finally:
        engine.dispose()

    def against_semaphore(name: str, value: float) -> Figure:
        return Figure(name, value, "us", ceiling=best["semaphore"], ceiling_name="asyncio.Semaphore")

    return [
        against_semaphore("acquire+release, uncontended: QueueGate on SQLite", best["sqlite"]),
        against_semaphore("acquire+release, uncontended: QueueGate in memory", best["memory"]),
        against_semaphore("acquire+release, 8 tasks on 2 gates, 2 slots: SQLite", best["contended"]),
        Figure("SqlSlotStore.claim (no event loop)", best["raw claim"], "us"),
        Figure("SqlSlotStore.release (no event loop)", best["raw release"], "us"),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    return guarded(lambda: run(argv))


def run(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        pass
    with tempfile.TemporaryDirectory(prefix="chronohook-bench-slots-") as tmp:
        figures = asyncio.run(_measure(args.quick, Path(tmp) / "slots.db"))
    emit("queue_slots", "python -m bench.queue_slots" + (" --quick" if args.quick else ""), figures, quick=args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
