"""The timer's step transaction: a full local queue makes it wait for room, never fail; any error aborts the open
transaction before it is raised (decision 0028)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chronohook.clock import FixedClock
from chronohook.kafka.topics import Topics
from chronohook.settings import Settings
from schemas.events import HttpRequestSpec, JobDue
from services.timer.transaction import commit_step
from tests.unit.test_dead_records_timer import FakeConsumer, FakeTransactionalProducer
from tests.unit.test_timer_firing import created, timer

T0 = datetime(2026, 4, 10, 14, 5, 30, tzinfo=UTC)
TOPICS = Topics.from_settings(Settings(topic_prefix="p"))


def due(n: int) -> JobDue:
    return JobDue(
        event_id=f"evt_{n}", job_id=f"j{n}", tenant="t1", occurred_at=T0, run_id=f"j{n}:0:1", due_at=T0,
        request=HttpRequestSpec(method="GET", url="http://127.0.0.2:9/x"),
    )  # fmt: skip


@dataclass
class FillingProducer(FakeTransactionalProducer):
    """A producer whose local queue holds ``room`` records until a poll drains it: produce raises BufferError when
    full, as librdkafka's does."""

    room: int = 3
    queued: int = 0
    full_errors: int = 0
    polls: int = 0
    calls: list[str] = field(default_factory=list)

    def produce(self, topic: str, value: Any, **kwargs: Any) -> None:
        if self.queued >= self.room:
            self.full_errors += 1
            raise BufferError("Local: Queue full")
        self.queued += 1
        super().produce(topic, value, **kwargs)

    def poll(self, _timeout: float) -> int:
        self.polls += 1
        served, self.queued = self.queued, 0
        return served

    def abort_transaction(self, _timeout: float) -> None:
        self.calls.append("abort")
        self.open = None


@pytest.mark.parametrize("events", [1, 3, 4, 10, 25])
def test_a_full_local_queue_is_polled_until_every_record_is_in(events: int) -> None:
    # Given a producer whose local queue holds 3 records between polls
    producer = FillingProducer(room=3)
    # When a step's transaction carries more records than that
    commit_step(producer, FakeConsumer([]), TOPICS, [], [due(n) for n in range(events)], [], False, T0)
    # Then each record went in once, in order, the full queue drained by polls in between, and it committed
    [committed] = producer.committed
    assert [kwargs["key"] for _, _, kwargs in committed] == [f"j{n}".encode() for n in range(events)]
    assert producer.full_errors == (events - 1) // 3
    assert producer.polls >= producer.full_errors
    assert producer.calls == []


@dataclass
class BrokenProducer(FillingProducer):
    """Raises ``error`` at its ``at``-th produce (or at commit when ``at`` is None)."""

    error: BaseException = field(default_factory=lambda: RuntimeError("boom"))
    at: int | None = 2
    produced: int = 0

    def produce(self, topic: str, value: Any, **kwargs: Any) -> None:
        self.produced += 1
        if self.produced == self.at:
            self.calls.append("raise")
            raise self.error
        super().produce(topic, value, **kwargs)

    def commit_transaction(self, timeout: float) -> None:
        if self.at is None:
            self.calls.append("raise")
            raise self.error
        super().commit_transaction(timeout)


@pytest.mark.parametrize(
    ("error", "at"),
    [
        (RuntimeError("not Kafka's"), 2),
        (ValueError("an encoder's"), 1),
        (KeyboardInterrupt(), 3),
        (RuntimeError("at commit"), None),
    ],
)
def test_any_error_in_the_transaction_aborts_it_before_it_is_raised(error: BaseException, at: int | None) -> None:
    # Given a producer that fails inside the transaction, with something other than a KafkaException
    producer = BrokenProducer(room=100, error=error, at=at)
    # When a step commits through it
    with pytest.raises(type(error)):
        commit_step(producer, FakeConsumer([]), TOPICS, [], [due(n) for n in range(4)], [], False, T0)
    # Then the open transaction was aborted right after the error, before it reached the caller; nothing committed
    assert producer.calls == ["raise", "abort"]
    assert producer.committed == [] and producer.open is None


def test_an_abort_that_fails_too_still_raises_the_first_error() -> None:
    # Given a producer that fails, and whose abort fails as well (fenced)
    producer = BrokenProducer(room=100, error=RuntimeError("first"), at=1)

    def abort(_timeout: float) -> None:
        raise RuntimeError("fenced")

    producer.abort_transaction = abort  # type: ignore[method-assign]
    # When a step commits through it, then the first error is the one raised
    with pytest.raises(RuntimeError, match="first"):
        commit_step(producer, FakeConsumer([]), TOPICS, [], [due(0)], [], False, T0)


def test_a_timer_step_over_a_small_local_queue_commits_everything(tmp_path: Path) -> None:
    # Given a timer whose producer's local queue holds only 7 records between polls, and 40 jobs due at once
    clock = FixedClock(T0)
    service, consumer, _ = timer(tmp_path, clock)
    producer = FillingProducer(room=7)
    service.producer = producer
    consumer.waiting = [created(f"j{i:02}", T0) for i in range(40)]
    service._last_commit -= 1
    # When it steps
    service.step()
    # Then one transaction carries their 40 changelog records and 40 JobDues, each once, without an error
    [committed] = producer.committed
    dues = [kwargs["key"] for topic, _, kwargs in committed if topic == "p.job-events"]
    assert sorted(dues) == [f"j{i:02}".encode() for i in range(40)]
    assert producer.full_errors > 0 and producer.calls == []
