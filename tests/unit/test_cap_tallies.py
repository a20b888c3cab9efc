"""Counting for the tenant caps (decision 0030): the read model's count plus this process's writes the projector had
not applied when it counted; a write that fails is not counted."""

from __future__ import annotations

import asyncio
import logging

import pytest

from services.ingest.cap_tallies import Applied, QueueCaps, Tally
from services.ingest.caps import Usage
from services.ingest.errors import InvalidInput, Unavailable
from tests.unit.test_ingest_quotas import FakeTimer

TOPIC = "chronohook.job-events"


class ReadModel:
    """A count and the projector's offsets, as a test sets them."""

    def __init__(self) -> None:
        self.usage = Usage()
        self.applied: Applied = {}
        self.counts = 0
        self.fail = False

    def count(self, _tenant: str) -> Usage:
        self.counts += 1
        if self.fail:
            raise RuntimeError("database away")
        return self.usage


def test_writes_count_until_the_projector_applied_them() -> None:
    async def scenario() -> None:
        # Given an empty read model and a tally over it
        model, timer = ReadModel(), FakeTimer()
        tally = Tally(model.count, lambda: model.applied, timer)
        assert await tally.usage("t1") == Usage()
        # When this process writes two schedules (at offsets 10 and 11 of partition 0), one more in flight
        tally.reserve("t1", Usage(1, 1.0)).at = ((TOPIC, 0, 10),)
        tally.reserve("t1", Usage(1, 0.5)).at = ((TOPIC, 0, 11),)
        in_flight = tally.reserve("t1", Usage(1, 0.25))
        # Then they count at once, before any recount
        assert await tally.usage("t1") == Usage(3, 1.75)
        assert model.counts == 1
        # When the projector applied the first only, and the count (after the reuse time) holds it
        model.applied, model.usage = {(TOPIC, 0): 11}, Usage(1, 1.0)
        timer.now += 5
        # Then the count and the two not applied make the usage: nothing counted twice, nothing lost
        assert await tally.usage("t1") == Usage(3, 1.75)
        assert model.counts == 2
        # And a write that failed is forgotten; another tenant has its own
        tally.release("t1", in_flight)
        assert await tally.usage("t1") == Usage(2, 1.5)
        assert await tally.usage("t2") == Usage(1, 1.0)  # (the model's count, for any tenant, here)

    asyncio.run(scenario())


def test_a_count_is_reused_and_shared_and_a_failure_is_a_503() -> None:
    async def scenario() -> None:
        model, timer = ReadModel(), FakeTimer()
        tally = Tally(model.count, lambda: model.applied, timer)
        # Given concurrent asks: one count answers them all; within the reuse time none is made again
        await asyncio.gather(*(tally.usage("t1") for _ in range(10)))
        await tally.usage("t1")
        assert model.counts == 1
        # When the database fails a count
        model.fail = True
        timer.now += 5
        # Then the caller gets a 503 (nothing accepted)
        with pytest.raises(Unavailable):
            await tally.usage("t1")

    asyncio.run(scenario())


def test_concurrent_pushes_to_one_new_queue_count_it_once_and_a_failed_write_uncounts_it() -> None:
    async def scenario() -> None:
        # Given a tenant with no queues, a cap of 2
        model, timer = ReadModel(), FakeTimer()
        caps = QueueCaps(2, Tally(model.count, lambda: model.applied, timer), lambda _t, _names: set())

        async def push(name: str) -> None:
            with await caps.admit("t1", [name], "queue") as admitted:
                await asyncio.sleep(0)  # the publish: other requests run meanwhile
                admitted.wrote([(TOPIC, 0, 1)])

        # When five pushes to the same new queue run at once
        await asyncio.gather(*(push("emails") for _ in range(5)))
        # Then it counts once: a second new queue still fits, a third does not
        assert await caps.tally.usage("t1") == Usage(1)
        await push("sms")
        with pytest.raises(InvalidInput, match="CHRONOHOOK_TENANT_MAX_QUEUES"):
            await push("third")
        # And a new queue whose write fails is neither counted nor known
        caps2 = QueueCaps(1, Tally(model.count, lambda: model.applied, timer), lambda _t, _names: set())
        with pytest.raises(RuntimeError), await caps2.admit("t1", ["q"], "queue"):
            raise RuntimeError("the broker refused")
        assert await caps2.tally.usage("t1") == Usage()
        await push_to(caps2, "q")

    async def push_to(caps: QueueCaps, name: str) -> None:
        with await caps.admit("t1", [name], "queue") as admitted:
            admitted.wrote([(TOPIC, 0, 2)])

    asyncio.run(scenario())


def test_a_cap_refusal_writes_one_refusal_line(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        # Given a tenant at its cap of one queue
        model = ReadModel()
        model.usage = Usage(1)
        caps = QueueCaps(1, Tally(model.count, lambda: model.applied, FakeTimer()), lambda _t, _names: set())
        caplog.set_level(logging.INFO, logger="chronohook.refusals")
        # When a push names a second queue
        with pytest.raises(InvalidInput):
            await caps.admit("t1", ["second"], "queue")
        # Then one refusal line names the tenant and the setting (decision 0043), and nothing secret
        [line] = [r for r in caplog.records if r.name == "chronohook.refusals"]
        assert line.__dict__["refusal"] == "cap" and line.__dict__["reason"] == "CHRONOHOOK_TENANT_MAX_QUEUES"
        assert line.__dict__["tenant"] == "t1"

    asyncio.run(scenario())
