"""The executor's shell around admission: its own ``run()`` loop, fed by an in-memory intake, sending through an
in-memory sender. A host that never answers costs its tenant that host's slots and nothing else; the loop never
waits on a slot, so a delete read behind thousands of stuck attempts is noted at once; the backlog is bounded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from confluent_kafka import Message

from chronohook.clock import FixedClock
from chronohook.kafka.producer import AsyncEventProducer
from chronohook.kafka.records import record_of
from chronohook.outbound.sender import SendResult
from chronohook.settings import Settings
from schemas.events import CallbackDue, Envelope, HttpRequestSpec, JobDeleted, JobDue
from services.executor.intake import OnFailure, OnRevoke
from services.executor.service import ExecutorService
from tests.support.fakes import ListProducer

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
TOPIC = "p.job-events"
HUNG = "hung.example"


class FakeMessage:
    """Just what ``read_record`` reads of a consumed message."""

    def __init__(self, offset: int, event: Envelope) -> None:
        self._offset = offset
        self._key, self._value, self._headers = record_of(event)

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes:
        return self._value

    def headers(self) -> list[tuple[str, str | bytes | None]]:
        return self._headers


class FakeIntake:
    """Batches handed to the loop on request; counts what the loop took."""

    def __init__(self, batches: list[list[FakeMessage]]) -> None:
        self.batches = list(batches)
        self.taken = 0
        self.committed: list[list[tuple[str, int, int]]] = []
        self.stopped = False

    def factory(self, *_: object) -> FakeIntake:
        return self

    def start(self) -> None:
        return None

    async def get(self, wait: float) -> list[Message]:
        if not self.batches:
            await asyncio.sleep(min(wait, 0.005))  # the real inbox waits for a batch: the loop does not spin
            return []
        await asyncio.sleep(0)
        self.taken += 1
        return cast(list[Message], self.batches.pop(0))

    def commit(self, offsets: list[tuple[str, int, int]]) -> None:
        if offsets:
            self.committed.append(offsets)

    async def stop(self, final: list[tuple[str, int, int]]) -> None:
        self.commit(final)
        self.stopped = True


class Sender:
    """Never answers requests to HUNG (until released); answers every other at once, noting when."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.hung = 0
        self.sent: dict[str, float] = {}

    async def send(self, request: HttpRequestSpec, headers: dict[str, str]) -> SendResult:
        del headers  # the sender's signature
        if HUNG in request.url:
            self.hung += 1
            try:
                await self.release.wait()
            finally:
                self.hung -= 1
        else:
            self.sent[request.url] = time.monotonic()
        return SendResult(started_at_monotonic=0.0, duration_ms=1.0, status=200)

    async def close(self) -> None:
        return None


class NoDeadRecords:
    """No record here is set aside; the executor closes its sink when it stops."""

    def close(self) -> None:
        return None


def job(tenant: str, n: int, host: str) -> JobDue:
    return JobDue(
        event_id=f"evt_{tenant}_{n}",
        job_id=f"qj_{tenant}_{n}",
        tenant=tenant,
        occurred_at=T0,
        run_id=f"qj_{tenant}_{n}:1:1",
        due_at=T0,
        request=HttpRequestSpec(method="POST", url=f"http://{host}/{tenant}/{n}"),
    )


def callback(tenant: str, n: int, host: str) -> CallbackDue:
    return CallbackDue(
        event_id=f"evt_cb_{tenant}_{n}",
        job_id=f"qj_{tenant}_cb{n}",
        tenant=tenant,
        occurred_at=T0,
        callback_id=f"cb_{tenant}_{n}",
        run_id=f"qj_{tenant}_cb{n}:1:1",
        due_at=T0,
        url=f"http://{host}/{tenant}/cb{n}",
        body="{}",
        attempt=1,
    )


def batches(events: list[Envelope], size: int) -> list[list[FakeMessage]]:
    msgs = [FakeMessage(i, e) for i, e in enumerate(events)]
    return [msgs[i : i + size] for i in range(0, len(msgs), size)]


async def until(probe: Callable[[], bool], what: str, within: float = 10.0) -> None:
    """Poll on the loop with a deadline (no fixed sleeps)."""
    deadline = time.monotonic() + within
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)


def executor(tmp_path: Path, intake: FakeIntake, **settings: Any) -> tuple[ExecutorService, Sender, ListProducer]:
    sender, producer = Sender(), ListProducer()
    service = ExecutorService(
        Settings(data_dir=tmp_path, **settings),
        FixedClock(T0),
        sender,
        cast(AsyncEventProducer, producer),
        dead=cast(Any, NoDeadRecords()),
        intake=cast(Callable[[Settings, str, str, OnRevoke, OnFailure], FakeIntake], intake.factory),
    )
    return service, sender, producer


async def stop(service: ExecutorService, running: asyncio.Task[None], sender: Sender) -> None:
    service.stopping.set()
    await asyncio.wait_for(running, 10)  # cancels the hung requests
    sender.release.set()


def test_a_hung_host_holds_its_own_slots_and_another_tenants_jobs_go_at_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        # Given tenant C's 3,000 jobs due now to a host that never answers (more than the old admission window of
        # 2,048), then tenant B's 300 jobs and 20 callbacks due now, then a delete of one of C's jobs: in log order
        events: list[Envelope] = [job("C", i, HUNG) for i in range(3_000)]
        events += [job("B", i, f"b{i % 4}.example") for i in range(300)]
        events += [callback("B", i, "cb.example") for i in range(20)]
        events.append(JobDeleted(event_id="evt_del", job_id="qj_C_2999", tenant="C", occurred_at=T0))
        intake = FakeIntake(batches(events, 500))
        service, sender, producer = executor(tmp_path, intake)
        # When the executor runs
        started = time.monotonic()
        running = asyncio.create_task(service.run())
        try:
            await until(lambda: len(sender.sent) == 320, "B's 300 jobs and 20 callbacks sent")
            took = time.monotonic() - started
            await until(lambda: len(producer.events) == 320, "B's results published")
            # Then every one of B's was sent promptly, while C has only its host's cap in flight
            assert took < 5.0, f"B's took {took:.1f} s"
            assert sender.hung == service.settings.host_concurrency == 32
            assert service.slots.held("C") == 32 and service.slots.held("B") == 0
            # And the delete, read behind all of them, was noted at once: the loop never waited on a slot
            assert service.stops.holds_back(job("C", 2999, HUNG)) == "deleted"
            # And C's rest waits parked, holding no slot; its offsets stay uncommitted from C's first on
            assert service.slots.waiting() == 3_000 - 32
            assert service.backlog.records == 3_000
        finally:
            await stop(service, running, sender)
        assert intake.stopped and intake.committed
        assert all(offset == 0 for batch in intake.committed for _, _, offset in batch)

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_past_the_backlog_bound_the_loop_takes_no_more_until_it_drains(tmp_path: Path) -> None:
    async def scenario() -> None:
        # Given an executor holding at most 100 unfinished records, and 300 jobs to a hung host in batches of 50
        intake = FakeIntake(batches([job("C", i, HUNG) for i in range(300)], 50))
        service, sender, producer = executor(tmp_path, intake, executor_max_parked=100)
        rooms = 0
        waits = service._room

        async def counted() -> list[Message]:
            nonlocal rooms
            rooms += 1
            return await waits()

        service._room = counted  # type: ignore[method-assign]
        # When it runs
        running = asyncio.create_task(service.run())
        try:
            await until(lambda: rooms >= 3, "the loop waiting for room")
            # Then it took two batches (100 records), and no more while they are unfinished
            assert intake.taken == 2 and service.backlog.records == 100 and sender.hung == 32
            # When the host answers at last
            sender.release.set()
            # Then the backlog drains, the loop reads on, and every job is sent
            await until(lambda: len(producer.events) == 300, "all 300 results")
            assert intake.taken == 6
            await until(lambda: service.backlog.records == 0, "the backlog empty")
        finally:
            await stop(service, running, sender)

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_tenant_alone_drains_at_full_capacity(tmp_path: Path) -> None:
    async def scenario() -> None:
        # Given one tenant's 2,000 jobs to 40 hosts that never answer, on an executor of 64 slots (8 per host)
        intake = FakeIntake(batches([job("A", i, f"h{i % 40}.{HUNG}") for i in range(2_000)], 500))
        service, sender, _ = executor(tmp_path, intake, executor_concurrency=64, host_concurrency=8)
        # When it runs
        running = asyncio.create_task(service.run())
        try:
            # Then it has every one of the 64 slots in flight (not 64 minus a reserve)
            await until(lambda: sender.hung == 64, "64 in flight")
            assert service.slots.held("A") == 64
            # And a newcomer's job starts at once from the reserve beyond them
            intake.batches.append([FakeMessage(2_000, job("B", 0, "b.example"))])
            await until(lambda: len(sender.sent) == 1, "B's job sent")
        finally:
            await stop(service, running, sender)

    asyncio.run(asyncio.wait_for(scenario(), 60))
