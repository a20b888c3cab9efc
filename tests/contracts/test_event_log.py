"""One contract for the event log ingest appends through, run against the in-memory log and real Kafka."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from confluent_kafka import Consumer, TopicPartition

from chronohook.errors import KafkaUnavailable
from chronohook.kafka.config import consumer_config, producer_config, transactional_producer_config
from chronohook.kafka.log import EventLog, InMemoryEventLog, KafkaEventLog
from chronohook.kafka.producer import AsyncEventProducer, TransactionalAppender
from chronohook.kafka.records import read_record
from chronohook.kafka.topics import Topics, ensure_topics
from chronohook.settings import Settings
from schemas import decode_event
from schemas.events import Envelope, JobPaused, JobResumed
from tests.support.ports import free_port

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ReadBack = Callable[[int, int], tuple[str | None, Envelope]]


def _events(job: str) -> list[Envelope]:
    return [
        JobPaused(event_id=f"{job}-1", job_id=job, tenant="t", occurred_at=T0),
        JobResumed(event_id=f"{job}-2", job_id=job, tenant="t", occurred_at=T0),
    ]


@pytest.fixture(params=["memory", "kafka"])
def log_and_reader(request: pytest.FixtureRequest) -> Iterator[tuple[EventLog, ReadBack]]:
    if request.param == "memory":
        memory = InMemoryEventLog()

        def read_memory(_partition: int, offset: int) -> tuple[str | None, Envelope]:
            _key, value, headers = memory.records[offset]
            header = dict(headers)["type"]
            return (header.decode() if isinstance(header, bytes) else header), decode_event(value)

        yield memory, read_memory
        return
    bootstrap = request.getfixturevalue("kafka_bootstrap")
    settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=f"contract-{secrets.token_hex(3)}", partitions=3)
    ensure_topics(settings)
    topic = Topics.from_settings(settings).events
    kafka = KafkaEventLog(
        AsyncEventProducer(producer_config(settings)),
        topic,
        TransactionalAppender(transactional_producer_config(settings, f"{settings.topic_prefix}.contract")),
    )
    consumer = Consumer(consumer_config(settings, "contract-reader"))

    def read_kafka(partition: int, offset: int) -> tuple[str | None, Envelope]:
        consumer.assign([TopicPartition(topic, partition, offset)])
        msg = consumer.poll(10)
        assert msg is not None, f"nothing at {topic}/{partition}/{offset}"
        record = read_record(msg)
        assert record is not None
        assert record.offset == offset
        return record.type, decode_event(record.value or b"")

    try:
        yield kafka, read_kafka
    finally:
        consumer.close()
        kafka.close()


def test_append_returns_where_each_event_landed(log_and_reader: tuple[EventLog, ReadBack]) -> None:
    # Given an event log
    log, read_back = log_and_reader
    events = _events("job_contract_a")
    # When a job's events are appended
    positions = asyncio.run(log.append(events))
    # Then each has a position, all in one partition, in order
    assert len(positions) == len(events)
    assert len({p for p, _ in positions}) == 1
    assert positions[0][1] < positions[1][1]
    # And reading each position back gives the same event, with its type header
    for event, (partition, offset) in zip(events, positions, strict=True):
        header, decoded = read_back(partition, offset)
        assert decoded == event
        assert header == type(event).__name__


def test_the_same_job_always_lands_in_the_same_partition(log_and_reader: tuple[EventLog, ReadBack]) -> None:
    # Given an event log
    log, _ = log_and_reader
    # When one job's events are appended in separate calls
    first = asyncio.run(log.append(_events("job_contract_b")))
    second = asyncio.run(log.append(_events("job_contract_b")))
    # Then they share a partition, later offsets after earlier ones
    assert {p for p, _ in first + second} == {first[0][0]}
    assert first[-1][1] < second[0][1]


@pytest.fixture(params=["memory", "kafka"])
def unreachable_log(request: pytest.FixtureRequest) -> Iterator[EventLog]:
    """A log whose broker does not answer: the in-memory one closed, a Kafka one bootstrapped at a loopback port
    nobody listens on."""
    if request.param == "memory":
        memory = InMemoryEventLog()
        memory.close()
        yield memory
        return
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}", topic_prefix="contract-unreachable")
    kafka = KafkaEventLog(AsyncEventProducer(producer_config(settings)), Topics.from_settings(settings).events)
    try:
        yield kafka
    finally:
        kafka.close()


def test_ping_answers_when_the_log_is_reachable(log_and_reader: tuple[EventLog, ReadBack]) -> None:
    # Given a reachable event log
    log, _ = log_and_reader
    # When it is pinged, Then it answers: it returns, raising nothing
    log.ping()


def test_ping_raises_when_the_log_is_unreachable(unreachable_log: EventLog) -> None:
    # Given an event log whose broker does not answer
    # When it is pinged, Then it raises the typed error /readyz turns into "kafka": "unavailable"
    with pytest.raises(KafkaUnavailable):
        unreachable_log.ping()


def test_append_atomically_lands_every_event_in_order(log_and_reader: tuple[EventLog, ReadBack]) -> None:
    # Given an event log
    log, read_back = log_and_reader
    events = _events("job_contract_c") + _events("job_contract_d")
    # When a group of events is appended as one
    positions = asyncio.run(log.append_atomically(events))
    # Then every one is readable at its position (read_committed on Kafka: the transaction committed)
    assert len(positions) == len(events)
    for event, (partition, offset) in zip(events, positions, strict=True):
        _, decoded = read_back(partition, offset)
        assert decoded == event
