"""The executor's consumer thread while the loop's backlog is full: it pauses, keeps polling and committing, and
hands over in order once there is room (services/executor/intake.py)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, cast

import pytest
from confluent_kafka import Message, TopicPartition

from chronohook.settings import Settings
from services.executor import intake as intake_module
from services.executor.intake import INBOX_BATCHES, ConsumerThread
from tests.support.polling import eventually


class FakeMessage:
    def __init__(self, offset: int) -> None:
        self._offset = offset

    def offset(self) -> int:
        return self._offset

    def error(self) -> None:
        return None


class FakeConsumer:
    """Records what the thread asks of it; ``poll`` returns the late records it was given, then nothing."""

    def __init__(self, late: list[FakeMessage]) -> None:
        self.late = list(late)
        self.assigned = [TopicPartition("events", 0), TopicPartition("events", 1)]
        self.paused: list[TopicPartition] = []
        self.resumed: list[TopicPartition] = []
        self.polls = 0
        self.commits: list[list[TopicPartition]] = []

    def assignment(self) -> list[TopicPartition]:
        return list(self.assigned)

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused = list(partitions)

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.resumed = list(partitions)

    def poll(self, _timeout: float) -> FakeMessage | None:
        self.polls += 1
        return self.late.pop(0) if self.late else None

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        assert asynchronous
        self.commits.append(offsets)


def _offsets(batch: list[Any]) -> list[int]:
    return [m.offset() for m in batch]


def test_a_full_inbox_pauses_polls_and_commits_then_hands_over_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(intake_module, "PAUSE_AFTER_S", 0.2)  # the test's inbox is full from the start
    asyncio.run(asyncio.wait_for(_full_inbox(), 30))


async def _full_inbox() -> None:
    # Given a consumer thread whose inbox is full (the loop's backlog at its bound)
    def fail(exc: BaseException) -> None:
        raise AssertionError(f"the intake failed: {exc!r}")

    intake = ConsumerThread(Settings(), "group", "events", lambda *_: None, fail)
    for n in range(INBOX_BATCHES):
        intake.inbox.put_nowait([cast(Message, FakeMessage(n))])
    consumer = FakeConsumer(late=[FakeMessage(101), FakeMessage(102)])
    done = threading.Event()

    # When it hands over the next batch, and the loop finishes some work meanwhile
    def hand_over() -> None:
        intake._hand_over(consumer, [cast(Message, FakeMessage(100))])
        done.set()

    thread = threading.Thread(target=hand_over, daemon=True)
    thread.start()
    intake.commit([("events", 0, 7)])

    # Then it pauses its partitions, keeps polling (so it stays in the group) and commits what finished
    await asyncio.to_thread(
        eventually, lambda: consumer.paused == consumer.assigned and consumer.polls >= 3 and consumer.commits
    )
    assert consumer.commits[0] == [TopicPartition("events", 0, 7)]
    assert not done.is_set()

    # When the loop takes batches again
    taken: list[int] = []
    while len(taken) < INBOX_BATCHES + 3:
        taken += _offsets(await intake.get(5))
    await asyncio.to_thread(done.wait, 10)

    # Then the partitions are resumed, and the batch and the records polled late follow in log order
    assert done.is_set()
    assert consumer.resumed == consumer.assigned
    assert taken == [*range(INBOX_BATCHES), 100, 101, 102]
    thread.join(5)
