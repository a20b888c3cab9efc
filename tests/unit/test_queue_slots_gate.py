"""The executor's queue gate: a queue's max_parallelism across executor processes (two gates on one store stand
for two processes), expiry, idempotent release, cancellation, and its place in ``execute()`` before the send slot."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy.exc import OperationalError

from chronohook.clock import FixedClock, to_ms
from chronohook.ids import queue_id
from chronohook.kafka.producer import AsyncEventProducer
from chronohook.outbound.sender import SendResult
from chronohook.settings import Settings
from chronohook.store.engine import create_schema, make_engine
from chronohook.store.queue_slots import MemorySlotStore, SlotQueue, SlotStore, SqlSlotStore
from schemas.events import HttpRequestSpec, JobDue
from services.executor.queue_gate import Hold, QueueGate, queue_key
from services.executor.service import ExecutorService
from tests.support.fakes import ListProducer

T0 = datetime(2026, 4, 10, 14, 5, 0, tzinfo=UTC)
Q = SlotQueue("tenant-a", 77)
FAST = {"poll_min_seconds": 0.001, "poll_max_seconds": 0.01}


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 30))


async def until(probe: Callable[[], bool], what: str) -> None:
    """Poll on the loop with a deadline (no fixed sleeps)."""
    for _ in range(3_000):
        if probe():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"timed out waiting for {what}")


class Spy:
    """Counts the claims made through it: a test waits for polls instead of sleeping."""

    def __init__(self, inner: SlotStore) -> None:
        self.inner = inner
        self.claims = 0

    def claim(self, queue: SlotQueue, limit: int, holder: str, now_ms: int, expires_ms: int) -> int | None:
        self.claims += 1
        return self.inner.claim(queue, limit, holder, now_ms, expires_ms)

    def extend(self, queue: SlotQueue, slot: int, holder: str, expires_ms: int) -> bool:
        return self.inner.extend(queue, slot, holder, expires_ms)

    def release(self, queue: SlotQueue, slot: int, holder: str) -> None:
        self.inner.release(queue, slot, holder)

    def live(self, queue: SlotQueue, now_ms: int) -> int:
        return self.inner.live(queue, now_ms)


async def polled(spy: Spy, times: int) -> None:
    """Wait until ``times`` more claims were made (a waiter asked and was refused that often)."""
    target = spy.claims + times
    await until(lambda: spy.claims >= target, f"{times} more claims")


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SlotStore]:
    if request.param == "memory":
        yield MemorySlotStore()
        return
    engine = make_engine(f"sqlite:///{tmp_path / 'slots.db'}")
    create_schema(engine)
    try:
        yield SqlSlotStore(engine)
    finally:
        engine.dispose()


def test_two_processes_with_max_2_a_third_waits_until_one_releases(store: SlotStore) -> None:
    async def scenario() -> None:
        # Given two executor processes sharing the queue's slots, holding both of max 2
        clock, spy = FixedClock(T0), Spy(store)
        one, two = QueueGate(spy, clock, **FAST), QueueGate(spy, clock, **FAST)
        first = await one.acquire(Q, 2, 45)
        second = await two.acquire(Q, 2, 45)
        # When a third job asks in either process
        third = asyncio.create_task(two.acquire(Q, 2, 45))
        await polled(spy, 5)
        # Then it waits until one of the two is released, and then gets that slot
        assert not third.done()
        await one.release(first)
        got = await asyncio.wait_for(third, 5)
        assert got.slot == first.slot
        assert store.live(Q, to_ms(T0)) == 2
        await two.release(second)
        await two.release(got)
        assert store.live(Q, to_ms(T0)) == 0

    run(scenario)


def test_a_local_release_wakes_the_waiter_at_once(store: SlotStore) -> None:
    async def scenario() -> None:
        # Given a full queue and a waiter polling at most every 10 s
        gate = QueueGate(store, FixedClock(T0), poll_min_seconds=10, poll_max_seconds=10)
        held = await gate.acquire(Q, 1, 45)
        waiter = asyncio.create_task(gate.acquire(Q, 1, 45))
        await until(lambda: Q in gate._waiting, "the waiter to queue")
        # When the holder in the same process releases
        await gate.release(held)
        # Then the waiter gets the slot long before its next poll
        got = await asyncio.wait_for(waiter, 2)
        await gate.release(got)

    run(scenario)


def test_an_expired_hold_of_a_killed_executor_is_reclaimed(store: SlotStore) -> None:
    async def scenario() -> None:
        # Given a process holding the only slot with a 30 s timeout, then killed (it never releases)
        clock, spy = FixedClock(T0), Spy(store)
        dead, alive = QueueGate(spy, clock, margin_seconds=15, **FAST), QueueGate(spy, clock, **FAST)
        await dead.acquire(Q, 1, 30 + 15)
        waiter = asyncio.create_task(alive.acquire(Q, 1, 45))
        await polled(spy, 3)
        assert not waiter.done()
        # When the timeout and margin have passed
        clock.advance(45)
        # Then the other process takes the slot
        got = await asyncio.wait_for(waiter, 5)
        assert got.slot == 0
        await alive.release(got)

    run(scenario)


def test_release_is_idempotent(store: SlotStore) -> None:
    async def scenario() -> None:
        # Given a hold released once, and the slot since taken by another job
        gate = QueueGate(store, FixedClock(T0), **FAST)
        held = await gate.acquire(Q, 1, 45)
        await gate.release(held)
        other = await gate.acquire(Q, 1, 45)
        # When the first hold is released again
        await gate.release(held)
        # Then the other job still holds the slot
        assert store.live(Q, to_ms(T0)) == 1
        await gate.release(other)
        await gate.release(other)
        assert store.live(Q, to_ms(T0)) == 0

    run(scenario)


def test_cancelled_waiters_and_holders_leave_no_slot_held(store: SlotStore) -> None:
    async def scenario() -> None:
        # Given a full queue of max 1, a job waiting for it and another inside its hold
        spy = Spy(store)
        gate = QueueGate(spy, FixedClock(T0), **FAST)
        entered = asyncio.Event()

        async def job() -> None:
            async with gate.hold(Q, 1, 30):
                entered.set()
                await asyncio.Event().wait()  # a send that never ends

        holder = asyncio.create_task(job())
        await asyncio.wait_for(entered.wait(), 5)
        waiter = asyncio.create_task(gate.acquire(Q, 1, 45))
        await polled(spy, 2)
        # When both are cancelled (the executor stopping)
        waiter.cancel()
        holder.cancel()
        await asyncio.gather(waiter, holder, return_exceptions=True)
        # Then no slot is held and no waiting entry is left behind
        assert store.live(Q, to_ms(T0)) == 0
        assert gate._waiting == {}

    run(scenario)


class BlockingClaims(MemorySlotStore):
    """A store whose claims block in their thread until let go: a cancellation lands mid-claim."""

    def __init__(self) -> None:
        super().__init__()
        self.claiming = threading.Event()
        self.go = threading.Event()

    def claim(self, queue: SlotQueue, limit: int, holder: str, now_ms: int, expires_ms: int) -> int | None:
        self.claiming.set()
        self.go.wait(10)
        return super().claim(queue, limit, holder, now_ms, expires_ms)


def test_a_claim_that_succeeds_after_its_waiter_was_cancelled_is_given_back() -> None:
    async def scenario() -> None:
        # Given a claim under way in the store's thread
        store = BlockingClaims()
        gate = QueueGate(store, FixedClock(T0), **FAST)
        waiter = asyncio.create_task(gate.acquire(Q, 1, 45))
        await until(store.claiming.is_set, "the claim to start")
        # When its waiter is cancelled, and then the claim succeeds
        waiter.cancel()
        await asyncio.sleep(0)
        store.go.set()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        # Then the slot it took is released
        assert store.live(Q, to_ms(T0)) == 0

    run(scenario)


class CountingExtends(MemorySlotStore):
    def __init__(self) -> None:
        super().__init__()
        self.extended = threading.Event()

    def extend(self, queue: SlotQueue, slot: int, holder: str, expires_ms: int) -> bool:
        kept = super().extend(queue, slot, holder, expires_ms)
        self.extended.set()
        return kept


class FlakyDatabase(MemorySlotStore):
    """Fails its first claims and every release as an unreachable database would."""

    def __init__(self, failing_claims: int) -> None:
        super().__init__()
        self.failing_claims = failing_claims

    def claim(self, queue: SlotQueue, limit: int, holder: str, now_ms: int, expires_ms: int) -> int | None:
        if self.failing_claims > 0:
            self.failing_claims -= 1
            raise OperationalError("claim", {}, Exception("database is locked"))
        return super().claim(queue, limit, holder, now_ms, expires_ms)

    def release(self, queue: SlotQueue, slot: int, holder: str) -> None:
        del queue, slot, holder
        raise OperationalError("release", {}, Exception("database is locked"))


def test_a_database_away_for_a_while_delays_the_queues_jobs_and_a_failed_release_waits_for_expiry() -> None:
    async def scenario() -> None:
        # Given a database that refuses the first three claims and every release
        store, clock = FlakyDatabase(failing_claims=3), FixedClock(T0)
        gate = QueueGate(store, clock, margin_seconds=15, **FAST)
        # When a job asks for its queue's only slot
        held = await gate.acquire(Q, 1, 45)
        # Then it gets it once the database answers; its release fails without failing the job
        assert store.failing_claims == 0
        await gate.release(held)
        assert store.live(Q, to_ms(T0)) == 1
        # and the slot comes back at its expiry
        clock.advance(45)
        assert store.live(Q, to_ms(clock.now())) == 0

    run(scenario)


def test_a_hold_longer_than_its_timeout_is_extended() -> None:
    async def scenario() -> None:
        # Given a hold with a 20 ms timeout and a 20 ms margin
        store = CountingExtends()
        gate = QueueGate(store, FixedClock(T0), margin_seconds=0.02, **FAST)
        # When the job holds it longer (waiting for a send slot)
        async with gate.hold(Q, 1, 0.02):
            await until(store.extended.is_set, "an extension")
        # Then the hold was extended before it expired, and is released after
        assert store.live(Q, to_ms(T0)) == 0

    run(scenario)


def _due(n: int, max_parallelism: int | None, queue: str | None = "emails", qid: int | None = Q.queue_id) -> JobDue:
    return JobDue(
        event_id=f"evt_{n}",
        job_id=f"rj_{n}",
        tenant="tenant-a",
        occurred_at=T0,
        run_id=f"rj_{n}:1:1",
        due_at=T0,
        request=HttpRequestSpec(method="POST", url=f"http://127.0.0.3:9/{n}"),
        queue=queue,
        queue_id=qid,
        max_parallelism=max_parallelism,
    )


def test_the_queue_key_is_its_id_derived_from_its_name_when_absent_and_none_without_a_bound() -> None:
    assert queue_key(_due(1, 2)) == Q
    assert queue_key(_due(1, 2, qid=None)) == SlotQueue("tenant-a", queue_id("tenant-a", "emails"))
    assert queue_key(_due(1, None)) is None
    assert queue_key(_due(1, 2, queue=None, qid=None)) is None


class CountingSender:
    def __init__(self) -> None:
        self.in_flight = 0
        self.most = 0
        self.sent = 0
        self.release = asyncio.Event()

    async def send(self, request: HttpRequestSpec, headers: dict[str, str]) -> SendResult:
        del request, headers
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        await self.release.wait()
        self.in_flight -= 1
        self.sent += 1
        return SendResult(started_at_monotonic=0.0, duration_ms=1.0, status=200)

    async def close(self) -> None:
        return None


def test_two_executors_send_at_most_max_parallelism_and_waiting_jobs_hold_no_send_slot() -> None:
    async def scenario() -> None:
        # Given two executors on one slot store and 10 jobs of a queue with max_parallelism 2, due now
        store, clock = Spy(MemorySlotStore()), FixedClock(T0)
        settings = Settings(executor_concurrency=8, host_concurrency=8)
        sender, producer = CountingSender(), ListProducer()
        executors = [
            ExecutorService(
                settings, clock, sender, cast(AsyncEventProducer, producer), queues=QueueGate(store, clock, **FAST)
            )
            for _ in range(2)
        ]
        # When they run, five each
        jobs = [asyncio.create_task(executors[i % 2].execute(_due(i, 2))) for i in range(10)]
        await until(lambda: sender.in_flight == 2, "two sends")
        await polled(store, 6)
        # Then two are in flight, and the eight waiting hold no send slot
        assert sender.in_flight == 2
        assert sum(e.slots.total - e.slots.free for e in executors) == 2
        sender.release.set()
        await asyncio.gather(*jobs)
        assert sender.most == 2
        assert sender.sent == 10 and len(producer.events) == 10
        assert store.live(Q, to_ms(T0)) == 0

    run(scenario)


def test_a_job_without_max_parallelism_never_touches_the_store() -> None:
    async def scenario() -> None:
        # Given a store that refuses every claim
        class Refusing(MemorySlotStore):
            def claim(self, queue: SlotQueue, limit: int, holder: str, now_ms: int, expires_ms: int) -> int | None:
                del queue, limit, holder, now_ms, expires_ms
                raise AssertionError("claimed for an unbounded queue")

        gate = QueueGate(Refusing(), FixedClock(T0))
        # When a job of a queue without max_parallelism passes the gate
        async with gate.for_job(_due(1, None)) as held:
            # Then it holds nothing
            assert held is None

    run(scenario)


def test_max_parallelism_is_read_from_each_job() -> None:
    async def scenario() -> None:
        # Given a queue whose bound was 1 and is now 3
        store, clock = Spy(MemorySlotStore()), FixedClock(T0)
        gate = QueueGate(store, clock, **FAST)
        old = await gate.acquire(Q, 1, 45)
        # When jobs that run after the change ask with 3
        newer = [await gate.acquire(Q, 3, 45) for _ in range(2)]
        # Then they run beside the old one, up to the new bound
        assert {h.slot for h in [old, *newer]} == {0, 1, 2}
        blocked = asyncio.create_task(gate.acquire(Q, 3, 45))
        await polled(store, 3)
        assert not blocked.done()
        blocked.cancel()
        await asyncio.gather(blocked, return_exceptions=True)
        for held in [old, *newer]:
            await gate.release(held)

    run(scenario)


def test_hold_yields_the_slot() -> None:
    async def scenario() -> None:
        # Given an empty queue
        gate = QueueGate(MemorySlotStore(), FixedClock(T0))
        # When a job holds a slot
        async with gate.hold(Q, 1, 30) as held:
            # Then the block sees which
            assert isinstance(held, Hold) and held.slot == 0

    run(scenario)
