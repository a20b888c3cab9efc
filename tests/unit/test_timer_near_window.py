"""The timer's near window: only entries waking soon are armed in RAM; far ones wait in the store and are armed
as the window slides; the store gets a change only once its transaction has committed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chronohook.clock import FixedClock, to_ms
from chronohook.kafka.records import Record, read_record, record_of
from chronohook.settings import Settings
from schemas.changelog import TimerEntry
from schemas.events import Envelope, HttpRequestSpec, JobPushed, QueueSettings, QueueSettingsChanged
from services.timer.service import TimerService
from services.timer.store import Checkpoint, MemoryEntryStore
from tests.unit.test_dead_records_timer import FakeConsumer, FakeTransactionalProducer, Msg

T0 = datetime(2026, 4, 10, 14, 5, 30, tzinfo=UTC)


def pushed(job_id: str, due: datetime, queue: str = "default") -> Msg:
    event = JobPushed(
        event_id=f"evt_{job_id}", job_id=job_id, tenant="t1", occurred_at=T0, api="recuro", integer_id=1,
        queue=queue, queue_id=7, request=HttpRequestSpec(method="POST", url="http://127.0.0.2:9/x"), scheduled_at=due,
    )  # fmt: skip
    return as_msg(event)


def as_msg(event: Envelope, topic: str = "p.job-events") -> Msg:
    key, value, headers = record_of(event)
    return Msg(topic, 0, 2, key, value, [(n, v if isinstance(v, bytes) else b"") for n, v in headers])


def timer(tmp_path: Path, clock: FixedClock) -> tuple[TimerService, FakeConsumer, FakeTransactionalProducer]:
    settings = Settings(data_dir=tmp_path, topic_prefix="p", timer_near_window_s=60, timer_refill_interval_s=2)
    service = TimerService(settings, clock, store=MemoryEntryStore())
    consumer, producer = FakeConsumer([]), FakeTransactionalProducer()
    service.consumer, service.producer = consumer, producer
    service.store.open(0)
    service.owned.add(0)
    return service, consumer, producer


def step_until_committed(service: TimerService) -> None:
    service._last_commit -= 1  # the input commit interval has passed
    service.step()


def due_events(producer: FakeTransactionalProducer) -> list[str]:
    return [
        kwargs["key"].decode()
        for transaction in producer.committed
        for _, _, kwargs in transaction
        if dict(kwargs.get("headers") or []).get("type") == b"JobDue"
    ]


def test_a_far_job_waits_on_disk_and_is_armed_when_the_window_reaches_it(tmp_path: Path) -> None:
    # Given a timer with a 60 s window, consuming a job due in 10 minutes and one due in 20 s
    clock = FixedClock(T0)
    service, consumer, producer = timer(tmp_path, clock)
    consumer.waiting = [pushed("far", T0 + timedelta(minutes=10)), pushed("near", T0 + timedelta(seconds=20))]
    step_until_committed(service)

    # Then both are in the store once committed, but only the near one is armed in RAM
    assert service.store.count(0) == 2 and service.pending == {}
    assert "near" in service.buckets and "far" not in service.buckets
    # And only the near one is kept decoded, for its fire
    assert list(service.near_cache) == ["near"]

    # When time moves to 9.5 minutes in, step by step
    for _ in range(57):
        clock.advance(10)
        service.step()
    # Then the near one fired once (and, in flight, stays decoded for its result), and the far one is armed now that
    # the window reaches it, not fired yet
    assert due_events(producer) == ["near"]
    cached = service.near_cache["near"]
    assert isinstance(cached, TimerEntry) and cached.in_flight
    assert "far" in service.buckets

    # When its time comes
    clock.advance(30)
    service.step()
    # Then it fires, once
    assert due_events(producer) == ["near", "far"]


def test_an_uncommitted_change_is_read_back_but_not_stored(tmp_path: Path) -> None:
    # Given a timer that consumed a job but whose input commit interval has not passed
    clock = FixedClock(T0)
    service, consumer, producer = timer(tmp_path, clock)
    consumer.waiting = [pushed("j1", T0 + timedelta(hours=1))]
    service._last_commit = time.monotonic() + 3600
    service.step()

    # Then the entry is pending, readable by the next event, and not in the store, and nothing was committed
    assert service._get("j1", 0) is not None
    assert service.store.get(0, "j1") is None
    assert producer.committed == []

    # When the step's transaction commits
    service._last_commit = 0
    service.step()
    # Then the store has it, past the checkpoint of its changelog record
    row = service.store.get(0, "j1")
    assert row is not None and row.wake_ms == to_ms(T0 + timedelta(hours=1))
    assert service.store.checkpoint(0) is not None


def test_a_resumed_queue_arms_its_held_jobs_from_the_store(tmp_path: Path) -> None:
    # Given a paused Recuro queue and two of its jobs, one overdue by the time it resumes, one far
    clock = FixedClock(T0)
    service, consumer, producer = timer(tmp_path, clock)
    paused = QueueSettingsChanged(
        event_id="evt_q1", job_id="queue:t1:7", tenant="t1", occurred_at=T0, queue="emails", queue_id=7,
        settings=QueueSettings(is_active=False),
    )  # fmt: skip
    service._take_queue_settings([_record(paused)])
    consumer.waiting = [
        pushed("held", T0 + timedelta(seconds=5), "emails"),
        pushed("later", T0 + timedelta(hours=2), "emails"),
    ]
    step_until_committed(service)
    # Then neither is armed while the queue is paused, and nothing fires past its due time
    clock.advance(30)
    service.step()
    assert "held" not in service.buckets and due_events(producer) == []

    # When the queue resumes
    resumed = paused.model_copy(update={"event_id": "evt_q2", "settings": QueueSettings(is_active=True)})
    service._take_queue_settings([_record(resumed)])
    service.step()
    # Then the overdue job fires at once, the far one stays on disk only
    assert due_events(producer) == ["held"]
    assert "later" not in service.buckets


def _record(event: QueueSettingsChanged) -> Record:
    record = read_record(as_msg(event, "p.queue-settings"))  # type: ignore[arg-type]  # a stand-in Message
    assert record is not None
    return record


def test_a_quiet_partitions_checkpoint_is_re_dated_only_when_nothing_follows_it(tmp_path: Path) -> None:
    # Given a committed job in partition 0: its store's checkpoint is just past its changelog record
    clock = FixedClock(T0)
    service, consumer, _producer = timer(tmp_path, clock)
    consumer.waiting = [pushed("j1", T0 + timedelta(days=3))]
    step_until_committed(service)
    before = service.store.checkpoint(0)
    assert before is not None
    # When an hour later the changelog ends with only the transaction's marker past it
    clock.advance(3600)
    consumer.changelog_end = before.offset + 1
    service._touch_checkpoints(to_ms(clock.now()))
    # Then the checkpoint keeps its offset and is dated now
    assert service.store.checkpoint(0) == Checkpoint(before.offset, to_ms(clock.now()))
    # But when records it has not seen follow it (another writer's), it is left as it was
    clock.advance(3600)
    consumer.changelog_end = before.offset + 5
    service._touch_checkpoints(to_ms(clock.now()))
    assert service.store.checkpoint(0) == Checkpoint(before.offset, to_ms(clock.now()) - 3_600_000)
