"""The timer sets aside what it cannot decode, fold or restore, inside the step's transaction, and goes on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import TopicPartition

from chronohook.clock import FixedClock
from chronohook.kafka.records import Record, record_of
from chronohook.settings import Settings
from schemas.dead_records import DeadRecord
from schemas.events import HttpRequestSpec, JobCreated
from services.timer.service import TimerService

T0 = datetime(2026, 4, 10, 14, 5, 30, tzinfo=UTC)


@dataclass
class Msg:
    """What the timer reads off a consumed message."""

    _topic: str
    _partition: int
    _offset: int
    _key: bytes | None
    _value: bytes | None
    _headers: list[tuple[str, bytes]]

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]]:
        return self._headers


@dataclass
class FakeConsumer:
    waiting: list[Msg]

    def poll(self, _timeout: float) -> Msg | None:
        return self.waiting.pop(0) if self.waiting else None

    def consume(self, n: int, _timeout: float) -> list[Msg]:
        taken, self.waiting = self.waiting[:n], self.waiting[n:]
        return taken

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition("p.job-events", 0)]

    def position(self, _tps: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition("p.job-events", 0, 3)]

    def consumer_group_metadata(self) -> str:
        return "group"

    def get_watermark_offsets(self, _tp: TopicPartition, timeout: float) -> tuple[int, int]:  # noqa: ARG002
        return 0, self.changelog_end

    changelog_end: int = 0


@dataclass
class Delivered:
    """What a delivery report tells: where the record landed."""

    _partition: int
    _offset: int

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset


@dataclass
class FakeTransactionalProducer:
    """Keeps each committed transaction's records and offsets; reports each record delivered at commit, at the next
    offset of its topic partition, as librdkafka does once ``commit_transaction`` returns."""

    open: list[tuple[str, Any, dict[str, Any]]] | None = None
    offsets: list[TopicPartition] = field(default_factory=list)
    committed: list[list[tuple[str, Any, dict[str, Any]]]] = field(default_factory=list)
    ends: dict[tuple[str, int], int] = field(default_factory=dict)

    def begin_transaction(self) -> None:
        self.open = []

    def produce(self, topic: str, value: Any, **kwargs: Any) -> None:
        assert self.open is not None, "produced outside a transaction"
        self.open.append((topic, value, kwargs))

    def send_offsets_to_transaction(self, offsets: list[TopicPartition], _meta: Any, _timeout: float) -> None:
        self.offsets = offsets

    def commit_transaction(self, _timeout: float) -> None:
        assert self.open is not None
        for topic, _, kwargs in self.open:
            where = (topic, kwargs.get("partition", 0))
            offset = self.ends.get(where, 0)
            self.ends[where] = offset + 2  # a record, then the transaction's marker
            if kwargs.get("on_delivery") is not None:
                kwargs["on_delivery"](None, Delivered(where[1], offset))
        self.committed.append(self.open)
        self.open = None

    def poll(self, _timeout: float) -> int:
        return 0


def timer(tmp_path: Path, waiting: list[Msg]) -> tuple[TimerService, FakeTransactionalProducer]:
    service = TimerService(Settings(data_dir=tmp_path, topic_prefix="p"), FixedClock(T0))
    producer = FakeTransactionalProducer()
    service.consumer, service.producer = FakeConsumer(waiting), producer
    # As an assignment leaves it: partitions 0 and 1 owned, their stores open.
    for partition in (0, 1):
        service.store.open(partition)
        service.owned.add(partition)
    return service, producer


def created(job_id: str) -> Msg:
    event = JobCreated(
        event_id=f"evt_{job_id}", job_id=job_id, tenant="t1", occurred_at=T0, api="quedup", name=job_id,
        request=HttpRequestSpec(method="GET", url="http://127.0.0.2:9/x"), run_at=T0 + timedelta(hours=1),
    )  # fmt: skip
    key, value, headers = record_of(event)
    return Msg("p.job-events", 0, 2, key, value, [(n, v if isinstance(v, bytes) else b"") for n, v in headers])


def test_an_unreadable_input_record_goes_aside_in_the_steps_transaction(tmp_path: Path) -> None:
    # Given bad JSON typed JobCreated, then a good JobCreated
    bad = Msg("p.job-events", 0, 1, b"job_bad", b"{not json", [("type", b"JobCreated")])
    service, producer = timer(tmp_path, [bad, created("job_ok")])
    service._last_commit -= 1  # the input commit interval has passed

    # When the timer steps
    service.step()

    # Then one transaction holds the good job's changelog entry, the bad record set aside, and the offsets past both
    [transaction] = producer.committed
    topics = [topic for topic, _, _ in transaction]
    assert topics == ["p.timer-state", "p.dead-records"]
    _, value, kwargs = transaction[1]
    assert value == b"{not json" and kwargs["key"] == b"job_bad"
    info = DeadRecord.from_headers(kwargs["headers"])
    assert (info.source_topic, info.source_partition, info.source_offset, info.consumer) == (
        "p.job-events", 0, 1, "timer",
    )  # fmt: skip
    assert info.reason.startswith("CodecError")
    assert producer.offsets == [TopicPartition("p.job-events", 0, 3)]
    # And, the transaction committed, the good job's entry is in its partition's store with the checkpoint past it
    assert service.pending == {}
    assert service.store.get(0, "job_ok") is not None and service.store.get(0, "job_bad") is None
    checkpoint = service.store.checkpoint(0)
    assert checkpoint is not None and checkpoint.offset == 1


def test_an_unreadable_changelog_record_is_skipped_and_set_aside_at_the_next_step(tmp_path: Path) -> None:
    # Given a changelog record that is not an entry, and one without a job id
    service, producer = timer(tmp_path, [])
    read = service._read_changelog_record
    assert read(Record("p.timer-state", 1, 7, b"job_x", b"\xff not an entry", None)) is None
    assert read(Record("p.timer-state", 1, 8, None, b"{}", None)) is None

    # When the timer steps with no input
    service._last_commit -= 1
    service.step()

    # Then no entry came back, both records are set aside in a transaction, and no offsets were sent for them
    assert service.store.count(1) == 0 and service.pending == {}
    [transaction] = producer.committed
    assert [DeadRecord.from_headers(kw["headers"]).source_offset for _, _, kw in transaction] == [7, 8]
    assert producer.offsets == []
