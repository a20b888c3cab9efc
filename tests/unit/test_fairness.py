"""Fair delivery slots: a per-host cap, a reserve for light tenants, round-robin across tenants, no head-of-line
blocking, cancellation safety; and the executor sending through them. No network, no sleeps: the loop is driven
by futures and by yielding to it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from chronohook.clock import FixedClock
from chronohook.kafka.producer import AsyncEventProducer
from chronohook.outbound.sender import SendResult
from chronohook.settings import Settings
from schemas.events import HttpRequestSpec, JobDue
from services.executor.fairness import FairSlots, default_reserve, host_key
from services.executor.service import ExecutorService
from tests.support.fakes import ListProducer

T0 = datetime(2026, 4, 10, 14, 5, 30, tzinfo=UTC)


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), timeout=10))


async def settle() -> None:
    """Let every ready task run until the loop is quiet (yields to the loop; no time passes)."""
    for _ in range(20):
        await asyncio.sleep(0)


class Holder:
    """Tasks that take a slot and hold it until released, recording the order in which they got in."""

    def __init__(self, slots: FairSlots) -> None:
        self.slots = slots
        self.order: list[str] = []
        self.tasks: list[asyncio.Task[None]] = []
        self._release: dict[str, asyncio.Event] = {}

    def start(self, name: str, tenant: str, host: str) -> asyncio.Task[None]:
        release = self._release[name] = asyncio.Event()

        async def hold() -> None:
            async with self.slots.acquire(tenant, host):
                self.order.append(name)
                await release.wait()

        task = asyncio.create_task(hold(), name=name)
        self.tasks.append(task)
        return task

    def release(self, name: str) -> None:
        self._release[name].set()

    def running(self) -> list[str]:
        return [name for name in self.order if not self._release[name].is_set()]

    async def finish(self) -> None:
        for event in self._release.values():
            event.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)


# -- host key ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("http://Example.COM/a", "example.com"),
        ("https://example.com.:8443/b", "example.com"),
        ("http://user:pw@example.com:81/", "example.com"),
        ("http://[::1]:8080/", "::1"),
        ("http://127.0.0.3:9000/x", "127.0.0.3"),
    ],
)
def test_the_host_is_the_lowercased_hostname_without_port_or_trailing_dot(url: str, key: str) -> None:
    # Given a URL; Then its host key ignores case, port, userinfo and a trailing dot
    assert host_key(url) == key


def test_the_reserve_is_an_eighth_of_the_slots() -> None:
    # Given the default 256 slots; Then 32 more are kept for light tenants, a quarter of them (8) each
    assert default_reserve(256) == 32
    assert FairSlots(256, 32).light == 8 and FairSlots(256, 32).reserve == 32
    assert default_reserve(1) == 1 and default_reserve(2) == 1


# -- per-host cap ------------------------------------------------------------------------------------------------
def test_at_most_per_host_requests_to_one_host() -> None:
    async def scenario() -> None:
        # Given 10 slots, 2 per host, and five requests to one host
        slots = FairSlots(10, per_host=2, reserve=0)
        h = Holder(slots)
        for i in range(5):
            h.start(f"a{i}", "A", "slow.example")
        await settle()
        # Then only two are in flight and three wait, though eight slots are free
        assert h.order == ["a0", "a1"]
        assert slots.on_host("slow.example") == 2 and slots.waiting() == 3 and slots.free == 8
        # When one finishes, Then the next in line takes its place, still two in flight
        h.release("a0")
        await settle()
        assert h.order == ["a0", "a1", "a2"] and slots.on_host("slow.example") == 2
        await h.finish()
        assert slots.idle()

    run(scenario)


def test_a_waiter_on_a_full_host_does_not_block_others_behind_it() -> None:
    # Given a host at its cap and a queue of the same tenant's waiters: one for that host, then one for another
    async def scenario() -> None:
        slots = FairSlots(3, per_host=1, reserve=0)
        h = Holder(slots)
        h.start("a-slow-1", "A", "slow")
        h.start("a-slow-0", "A", "slow")
        await settle()
        # And the other two slots taken by C, so the queue is built under scarcity
        h.start("c1", "C", "c1")
        h.start("c2", "C", "c2")
        h.start("a-slow-2", "A", "slow")
        h.start("a-fast", "A", "fast")
        await settle()
        assert h.order == ["a-slow-1", "c1", "c2"]
        # When a slot frees (not on the slow host)
        h.release("c1")
        await settle()
        # Then A's waiter for the fast host gets it although A's and B's waiters for the slow host are older
        assert h.order[-1] == "a-fast"
        assert slots.on_host("slow") == 1
        await h.finish()
        assert slots.idle()

    run(scenario)


# -- round robin across tenants ----------------------------------------------------------------------------------
def test_freed_slots_go_round_robin_to_tenants_under_their_share_first() -> None:
    async def scenario() -> None:
        # Given two slots held by A, and a queue of six A waiters before two B and two C waiters
        slots = FairSlots(2, per_host=100, reserve=0)
        h = Holder(slots)
        h.start("a-held-0", "A", "a")
        h.start("a-held-1", "A", "a")
        await settle()
        for i in range(6):
            h.start(f"a{i}", "A", "a")
        for name, tenant in (("b0", "B"), ("b1", "B"), ("c0", "C"), ("c1", "C")):
            h.start(name, tenant, tenant.lower())
        await settle()
        assert slots.waiting() == 10
        # When slots free one by one
        got: list[str] = []
        for _ in range(7):
            h.release(h.order[-1] if got else "a-held-0")
            await settle()
            got.append(h.order[-1])
        # Then B and C, under their share (2 slots / 3 tenants waiting: 1) while A holds one, take turns first,
        # and A's six follow: not A's six first
        assert got == ["b0", "c0", "b1", "c1", "a0", "a1", "a2"]
        await h.finish()
        assert slots.idle()

    run(scenario)


# -- reserve -----------------------------------------------------------------------------------------------------
def test_a_heavy_tenant_cannot_take_the_reserve_and_a_newcomer_gets_a_slot_at_once() -> None:
    async def scenario() -> None:
        # Given 8 slots with a reserve of 2 beyond them, and tenant A with 20 slow requests on 20 hosts
        slots = FairSlots(8, per_host=32, reserve=2, light=1)
        h = Holder(slots)
        for i in range(20):
            h.start(f"a{i}", "A", f"host-{i}")
        await settle()
        # Then A, alone, holds every slot but not the reserve, and the rest wait
        assert slots.held("A") == 8 and slots.free == 0 and slots.waiting() == 12
        # When tenant B's job becomes due
        b = h.start("b", "B", "b.example")
        await settle()
        # Then it is sent at once, from the reserve, while A's backlog still waits
        assert "b" in h.order and slots.held("B") == 1 and slots.waiting() == 12
        # And when B finishes, A still cannot take the reserve
        h.release("b")
        await b
        await settle()
        assert slots.held("A") == 8 and slots.free == 0
        await h.finish()
        assert slots.idle()

    run(scenario)


def test_a_light_tenant_uses_the_reserve_only_up_to_its_quota() -> None:
    async def scenario() -> None:
        # Given 8 slots and a reserve of 4 beyond them, light tenants holding fewer than 2, and A holding the 8
        slots = FairSlots(8, per_host=32, reserve=4, light=2)
        h = Holder(slots)
        for i in range(8):
            h.start(f"a{i}", "A", f"a{i}")
        await settle()
        assert slots.free == 0
        # When B brings three due jobs and C one
        for i in range(3):
            h.start(f"b{i}", "B", "b")
        h.start("c0", "C", "c")
        await settle()
        # Then B gets two from the reserve, C one, and one reserve slot stays free for the next newcomer
        assert slots.held("B") == 2 and slots.held("C") == 1 and slots.waiting() == 1
        assert slots.policy.running == 11 and slots.free == -3
        await h.finish()
        assert slots.idle()

    run(scenario)


def test_one_tenant_alone_uses_every_slot() -> None:
    async def scenario() -> None:
        # Given the executor's defaults and one tenant with 300 requests spread over 30 hosts
        slots = FairSlots(256, per_host=32)
        h = Holder(slots)
        for i in range(300):
            h.start(f"a{i}", "A", f"host-{i % 30}")
        await settle()
        # Then it holds all 256 slots (work-conserving), at most 32 per host (30 hosts x 32 would allow 960), and
        # the reserve beyond them stays free for the next tenant
        assert slots.held("A") == 256 and slots.free == 0 and slots.waiting() == 44
        assert max(slots.on_host(f"host-{i}") for i in range(30)) <= 32
        await h.finish()
        assert slots.idle()

    run(scenario)


# -- cancellation ------------------------------------------------------------------------------------------------
def test_a_waiter_cancelled_in_the_queue_leaves_no_trace() -> None:
    async def scenario() -> None:
        # Given one slot held, and two waiters
        slots = FairSlots(1, per_host=1, reserve=0)
        h = Holder(slots)
        h.start("held", "A", "x")
        await settle()
        gone = h.start("gone", "B", "x")
        h.start("next", "C", "x")
        await settle()
        # When the first waiter is cancelled, then the slot is freed
        gone.cancel()
        await settle()
        assert slots.waiting() == 1
        h.release("held")
        await settle()
        # Then the slot goes to the next waiter, and nothing is leaked
        assert h.order == ["held", "next"]
        await h.finish()
        assert gone.cancelled() and slots.idle()

    run(scenario)


def test_a_waiter_cancelled_after_its_grant_hands_the_slot_on() -> None:
    async def scenario() -> None:
        # Given one slot held and two waiters
        slots = FairSlots(1, per_host=1, reserve=0)
        h = Holder(slots)
        h.start("held", "A", "x")
        await settle()
        granted = h.start("granted", "B", "x")
        h.start("after", "C", "x")
        await settle()
        # When the slot is handed to the first waiter and it is cancelled before it can run
        h.release("held")
        for _ in range(3):
            if slots.held("B"):
                break
            await asyncio.sleep(0)
        assert slots.held("B") == 1 and "granted" not in h.order
        granted.cancel()
        await settle()
        # Then the slot passes on to the next waiter and nothing is leaked
        assert h.order == ["held", "after"]
        await h.finish()
        assert granted.cancelled() and slots.idle()

    run(scenario)


def test_many_cancellations_under_load_leak_nothing() -> None:
    async def scenario() -> None:
        # Given 4 slots, 2 per host, and 60 waiters of 3 tenants on 5 hosts
        slots = FairSlots(4, per_host=2, reserve=1)
        h = Holder(slots)
        for i in range(60):
            h.start(f"w{i}", f"t{i % 3}", f"h{i % 5}")
        await settle()
        # When every third is cancelled and the rest are released as they get in
        for task in h.tasks[::3]:
            task.cancel()
        for _ in range(200):
            await settle()
            running = h.running()
            if not running and all(t.done() for t in h.tasks):
                break
            for name in running:
                h.release(name)
            assert slots.free >= 0 and all(slots.on_host(f"h{i}") <= 2 for i in range(5))
        # Then every task ended, each one not cancelled got its turn, and the slots are whole again
        assert all(t.done() for t in h.tasks)
        assert {t.get_name() for t in h.tasks if not t.cancelled()} <= set(h.order)
        assert slots.idle()

    run(scenario)


# -- the executor sends through the slots ------------------------------------------------------------------------
class GatedSender:
    """Holds tenant A's requests until released; answers everyone else at once, recording when they were sent."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.sent: list[str] = []

    async def send(self, request: HttpRequestSpec, headers: dict[str, str]) -> SendResult:
        del headers  # the sender's signature; not needed here
        self.sent.append(request.url)
        if "/a/" in request.url:
            await self.gate.wait()
        return SendResult(started_at_monotonic=0.0, duration_ms=1.0, status=200)

    async def close(self) -> None:
        return None


def due(tenant: str, n: int, url: str) -> JobDue:
    return JobDue(
        event_id=f"evt_{tenant}_{n}",
        job_id=f"rj_{tenant}_{n}",
        tenant=tenant,
        occurred_at=T0,
        run_id=f"rj_{tenant}_{n}:1:1",
        due_at=T0,
        request=HttpRequestSpec(method="POST", url=url),
    )


@pytest.mark.parametrize("fair", [True, False], ids=["fair-slots", "one-semaphore"])
def test_a_tenants_slow_backlog_does_not_hold_back_another_tenants_due_job(fair: bool) -> None:
    async def scenario() -> None:
        # Given an executor with 16 slots and tenant A's 500 jobs due now, on 100 slow hosts, already sending
        settings = Settings(executor_concurrency=16, host_concurrency=32)
        sender = GatedSender()
        producer = ListProducer()
        service = ExecutorService(settings, FixedClock(T0), sender, cast(AsyncEventProducer, producer))
        if not fair:  # what the executor did before: one semaphore for every send
            service.slots = _OneSemaphore(settings.executor_concurrency)  # type: ignore[assignment]
        a_jobs = [
            asyncio.create_task(service.execute(due("A", i, f"http://slow-{i % 100}.example/a/{i}")))
            for i in range(500)
        ]
        await settle()
        # When tenant B's job is due at the same moment
        b_job = asyncio.create_task(service.execute(due("B", 0, "http://b.example/b/0")))
        await settle()
        delivered = "http://b.example/b/0" in sender.sent
        # Then B's job is sent at once with the fair slots, and waits behind A with one semaphore
        sender.gate.set()
        await asyncio.gather(b_job, *a_jobs)
        assert delivered is fair
        assert len(producer.events) == 501

    run(scenario)


class _OneSemaphore:
    def __init__(self, n: int) -> None:
        self._sem = asyncio.Semaphore(n)

    def acquire(self, tenant: str, host: str) -> asyncio.Semaphore:
        del tenant, host  # one queue for everyone: that is the point
        return self._sem
