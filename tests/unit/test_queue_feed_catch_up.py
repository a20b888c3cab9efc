"""The timer's start-up read of the queue-settings topic (decision 0030): records are yielded as they are read, so
the book applies each at once and keeps live queues only; no deadline, however long it takes, its progress logged."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import TopicPartition

from chronohook.kafka.records import record_of
from schemas.events import QueueSettings, QueueSettingsChanged
from schemas.topics import queue_settings_key
from services.timer.queue_feed import QueueSettingsFeed
from services.timer.queues import QueueBook

TOPIC = "p.queue-settings"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Message:
    _partition: int
    _offset: int
    _key: bytes
    _value: bytes | None

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]]:
        return []


class FakeConsumer:
    """One partition holding ``messages``, handed out ``per_consume`` at a time."""

    def __init__(self, messages: list[Message], per_consume: int = 7) -> None:
        self.messages = messages
        self.per_consume = per_consume
        self.read = 0

    def list_topics(self, topic: str, timeout: float) -> Any:  # noqa: ARG002
        part = type("P", (), {"partitions": {0: None}, "error": None})()
        return type("M", (), {"topics": {topic: part}})()

    def get_watermark_offsets(self, _tp: TopicPartition, timeout: float) -> tuple[int, int]:  # noqa: ARG002
        return 0, len(self.messages)

    def assign(self, _partitions: list[TopicPartition]) -> None:
        return None

    def consume(self, n: int, _timeout: float) -> list[Message]:
        batch = self.messages[self.read : self.read + min(n, self.per_consume)]
        self.read += len(batch)
        return batch

    def position(self, tps: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(TOPIC, tp.partition, self.read) for tp in tps]


def _settings(offset: int, n: int) -> Message:
    event = QueueSettingsChanged(
        event_id=f"e{offset}",
        job_id=queue_settings_key("t1", n),
        tenant="t1",
        occurred_at=T0,
        queue=f"q{n}",
        queue_id=n,
        settings=QueueSettings(is_active=False),
    )
    key, value, _ = record_of(event)
    return Message(0, offset, key, value)


def _tombstone(offset: int, n: int) -> Message:
    return Message(0, offset, queue_settings_key("t1", n).encode(), None)


def feed_over(consumer: FakeConsumer) -> QueueSettingsFeed:
    feed = QueueSettingsFeed.__new__(QueueSettingsFeed)  # no broker: the consumer is the fake
    feed.topic = TOPIC
    feed._consumer = consumer
    return feed


@pytest.fixture
def slow_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each look at the clock is 30 s later: a read that takes hours (the old 60 s deadline would have stopped it)."""
    now = [0.0]

    def monotonic() -> float:
        now[0] += 30.0
        return now[0]

    monkeypatch.setattr("services.timer.queue_feed.time.monotonic", monotonic)


@pytest.mark.usefixtures("slow_clock")
def test_catch_up_yields_as_it_reads_and_the_book_keeps_live_queues_only(caplog: pytest.LogCaptureFixture) -> None:
    # Given a topic of 300 queues' settings, 290 of them deleted since (tombstones), read a few records at a time
    messages = [_settings(i, i) for i in range(300)]
    messages += [_tombstone(300 + i, i) for i in range(290)]
    consumer = FakeConsumer(messages)
    book = QueueBook()
    largest = 0

    # When the timer's start-up reads it, applying each record as it comes
    with caplog.at_level(logging.INFO, logger="chronohook.timer"):
        for record in feed_over(consumer).catch_up(progress_every_s=60.0):
            # Then each record arrives before the next ones are read (nothing is gathered first)
            assert consumer.read - record.offset <= consumer.per_consume
            book.take(record)
            largest = max(largest, len(book))

    # And every record was read, however long it took; the book holds the 10 live queues, never more than 300
    assert consumer.read == 590
    assert len(book) == 10 and largest == 300
    assert book.settings_for("t1", "q295").is_active is False  # live: its settings
    assert book.settings_for("t1", "q5").is_active  # deleted: the defaults
    # And its progress was logged on the way, then its end
    progress = [r.getMessage() for r in caplog.records if "so far" in r.getMessage()]
    assert progress and "590 records" in caplog.records[-1].getMessage()


def test_an_empty_topic_reads_nothing() -> None:
    assert list(feed_over(FakeConsumer([])).catch_up()) == []
