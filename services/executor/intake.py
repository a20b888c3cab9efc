"""The executor's consumer, in a thread of its own: it fetches batches of the job log into an inbox the event loop
reads, and commits the offsets the loop hands back (asynchronously while running, the last ones synchronously)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from chronohook.kafka.batches import take
from chronohook.kafka.config import consumer_config
from chronohook.kafka.groups import joined_group
from chronohook.settings import Settings

log = logging.getLogger("chronohook.executor")

Offsets = list[tuple[str, int, int]]
OnRevoke = Callable[[Any, list[TopicPartition]], None]
OnFailure = Callable[[BaseException], None]

# Fetches held by the broker until 64 KB are readable or 20 ms passed, not answered at the first readable byte: with
# records landing every millisecond or two, each fetch came back with one or two of them, and every fetch costs the
# broker and librdkafka's threads. 20 ms is well inside the timer's 250 ms lead (decision 0027).
CONSUMER_FETCH = {"fetch.min.bytes": 64 * 1024, "fetch.wait.max.ms": 20}
# Batches handed over and not yet read by the loop: the thread waits (and fetches nothing) while this many are.
INBOX_BATCHES = 4
# The inbox full this long (the loop's backlog at its bound, not merely a busy loop), the consumer pauses its
# partitions and polls (and commits) every PAUSED_POLL_S: well inside max.poll.interval.ms (300 s).
PAUSE_AFTER_S = 5.0
PAUSED_POLL_S = 0.2


class Intake(Protocol):
    """What the executor's loop reads due records from and hands offsets to (a fake one in tests)."""

    def start(self) -> None: ...
    async def get(self, wait: float) -> list[Message]: ...
    def commit(self, offsets: Offsets) -> None: ...
    async def stop(self, final: Offsets) -> None: ...


IntakeFactory = Callable[[Settings, str, str, OnRevoke, OnFailure], Intake]


class ConsumerThread:
    def __init__(self, settings: Settings, group: str, topic: str, on_revoke: OnRevoke, fail: OnFailure) -> None:
        self._settings = settings
        self._group = group
        self._topic = topic
        self._on_revoke = on_revoke
        self._fail = fail
        self._loop = asyncio.get_running_loop()
        self.inbox: asyncio.Queue[list[Message]] = asyncio.Queue(maxsize=INBOX_BATCHES)
        self._commits: list[Offsets] = []
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._last_offsets = threading.Event()  # set once the offsets of everything finished are in ``_commits``
        self._thread = threading.Thread(target=self._consume, name="executor-consumer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    async def get(self, wait: float) -> list[Message]:
        """The next batch, or nothing after ``wait`` seconds."""
        try:
            return await asyncio.wait_for(self.inbox.get(), timeout=wait)
        except TimeoutError:
            return []

    def commit(self, offsets: Offsets) -> None:
        """Hand offsets to the thread, which commits them asynchronously at its next turn."""
        if offsets:
            with self._lock:
                self._commits.append(offsets)

    async def stop(self, final: Offsets) -> None:
        """Stop fetching, commit ``final`` synchronously, and close the consumer."""
        self._halt.set()
        while not self.inbox.empty():  # a consumer thread blocked handing a batch over gets out (the batch is dropped)
            self.inbox.get_nowait()
        self.commit(final)
        self._last_offsets.set()
        await asyncio.to_thread(self._thread.join, 10)

    def _pending(self) -> list[Offsets]:
        with self._lock:
            pending, self._commits[:] = list(self._commits), []
        return pending

    def _hand_over(self, consumer: Any, msgs: list[Message]) -> None:
        """Put ``msgs`` in the inbox. While it is full (the loop's backlog is at its bound), the partitions are paused
        and the consumer keeps polling and committing: blocked without a poll past ``max.poll.interval.ms`` it would
        leave the group, and its partitions' jobs would be sent again by another member."""
        handed = asyncio.run_coroutine_threadsafe(self.inbox.put(msgs), self._loop)
        paused: list[TopicPartition] = []
        late: list[Message] = []
        try:
            while True:
                try:
                    # A loop merely busy takes the batch soon: pausing purges librdkafka's prefetched records, so
                    # the partitions are paused only once the inbox has been full for a while.
                    handed.result(timeout=PAUSED_POLL_S if paused else PAUSE_AFTER_S)
                    break
                except concurrent.futures.TimeoutError:
                    if self._halt.is_set():
                        handed.cancel()
                        return
                if not paused:
                    paused = consumer.assignment()
                    consumer.pause(paused)
                    log.info("backlog full: %d partitions paused until it drains", len(paused))
                self._commit_pending(consumer)
                record = consumer.poll(0)  # keeps the membership; a paused partition returns nothing
                if record is not None and record.error() is None:
                    late.append(record)  # fetched before the pause took effect: handed over next, in order
        finally:
            if paused:
                consumer.resume(consumer.assignment())
        if late:
            self._hand_over(consumer, late)

    def _commit_pending(self, consumer: Any) -> None:
        for batch in self._pending():
            # Asynchronous: a synchronous commit held up the next fetch, so due jobs arrived late.
            # Losing a commit only means sending a job again, which at-least-once allows.
            consumer.commit(offsets=[TopicPartition(t, p, o) for t, p, o in batch], asynchronous=True)

    def _consume(self) -> None:
        # The group's id carries the topic prefix; a legacy group's offsets are adopted first, once (groups.py).
        try:
            group = joined_group(self._settings, self._group)
        except BaseException as exc:  # the executor stops (and is restarted) rather than wait on a dead thread
            self._loop.call_soon_threadsafe(self._fail, exc)
            return
        consumer = Consumer(consumer_config(self._settings, group, **CONSUMER_FETCH))
        consumer.subscribe([self._topic], on_revoke=self._on_revoke)
        try:
            while not self._halt.is_set():
                self._commit_pending(consumer)
                # 5 ms of linger is well inside the timer's 250 ms lead, and batches the hand-over to the loop.
                msgs = take(consumer, 500, 0.05, linger=0.005)
                if msgs:
                    self._hand_over(consumer, msgs)
        except BaseException as exc:
            self._loop.call_soon_threadsafe(self._fail, exc)
        finally:
            # The last offsets synchronously: while running they go at most every COMMIT_INTERVAL_S, so without
            # this a restart would send the jobs of the last fraction of a second again.
            if self._last_offsets.wait(10):
                for batch in self._pending():
                    with contextlib.suppress(KafkaException):  # a revoked partition's, or the broker gone
                        consumer.commit(offsets=[TopicPartition(t, p, o) for t, p, o in batch], asynchronous=False)
            consumer.close()
