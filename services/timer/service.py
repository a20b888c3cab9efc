"""The timer's shell: consume job events and results, keep entries in buckets, fire, all in Kafka transactions.

Each transaction holds the consumed offsets, the changelog writes of the entries they changed, and the events
decided (``JobDue``, retries). So a crash, kill -9 included, either keeps all of a step or none of it: on restart
the entries come back from the changelog and the inputs after the committed offsets are consumed again.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from chronohook.clock import Clock, to_ms
from chronohook.kafka.batches import take
from chronohook.kafka.config import consumer_config, transactional_producer_config
from chronohook.kafka.dead_records import produce_dead_record
from chronohook.kafka.records import Record, read_record, record_of
from chronohook.kafka.topics import Topics, ensure_topics
from chronohook.settings import Settings
from schemas import decode_event
from schemas.changelog import Entry, decode_entry
from schemas.events import Envelope, QueueSettingsChanged
from services.timer.buckets import TimeBuckets
from services.timer.domain import decide, fire_entry
from services.timer.errors import TimerError
from services.timer.queue_feed import QueueSettingsFeed
from services.timer.queues import QueueBook, in_queue, wake_at

log = logging.getLogger("chronohook.timer")

GROUP = "chronohook-timer"
# Its name on the records it sets aside.
CONSUMER_NAME = "timer"
MAX_IDLE_WAIT = 0.1
INPUT_COMMIT_INTERVAL = 0.05
# A step's transaction that has not committed by then is stuck, not slow (see Watchdog).
COMMIT_DEADLINE_S = 15.0
# The timer's own decisions: nothing in them changes its entries. (JobDeadLettered is read: keyed by the chain's
# original, it arms the dead letter's retention entry in that job's partition, services/timer/retention.py. So is
# QueueOutcome: keyed by a queue, it is counted for the queue's alerts in that key's partition, timer/alerts.py.)
IGNORED_TYPES = frozenset(
    {"JobDue", "JobRetryScheduled", "CallbackDue", "CallbackRetryScheduled", "CallbackAbandoned"}
    | {"JobRetryChainResolved"}
    # Alerts: the timer's own decisions, and the destination (the executor's to look up at send time).
    | {"AlertRaised", "AlertDue", "AlertRetryScheduled", "AlertAbandoned", "AlertDestinationSet"}
    | {"AlertDestinationCleared"}
)


class Watchdog:
    """Ends the process when a guarded section overruns: librdkafka's ``send_offsets_to_transaction`` can ignore its
    timeout and block for good after a broker restart (confluentinc/librdkafka#5456, #5511). Exiting is safe: the
    supervisor restarts the timer, whose ``init_transactions`` fences this incarnation and aborts its transaction."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._since: float | None = None
        threading.Thread(target=self._watch, name="timer-watchdog", daemon=True).start()

    def __enter__(self) -> None:
        self._since = time.monotonic()

    def __exit__(self, *_: object) -> None:
        self._since = None

    def _watch(self) -> None:
        while True:
            time.sleep(1.0)
            since = self._since
            if since is not None and time.monotonic() - since > self.seconds:
                log.critical("a transaction did not commit within %.0f s; exiting to be restarted", self.seconds)
                logging.shutdown()
                os._exit(75)


class TimerService:
    def __init__(self, settings: Settings, clock: Clock, stop: threading.Event | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.stop = stop or threading.Event()
        self.topics = Topics.from_settings(settings)
        self.lead = timedelta(milliseconds=settings.timer_lead_ms)
        self.entries: dict[str, Entry] = {}
        self.partition_of: dict[str, int] = {}
        self.buckets = TimeBuckets(width_ms=1000)
        self.owned: set[int] = set()
        self.producer: Any = None
        self.consumer: Any = None
        self.watchdog = Watchdog(COMMIT_DEADLINE_S)
        # Every Recuro queue's settings in force, from the whole queue-settings topic (decision 0015).
        self.queues = QueueBook()
        self.queue_feed: QueueSettingsFeed | None = None
        # Consumed but not yet committed: the entries changed, and whether any input is pending.
        self._changed: dict[str, int] = {}
        # Records set aside (input or changelog) and why: produced inside the next step's transaction.
        self._dead: list[tuple[Record, BaseException]] = []
        self._uncommitted = False
        self._last_commit = time.monotonic()

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def run(self) -> None:
        ensure_topics(self.settings)
        self.producer = Producer(
            transactional_producer_config(self.settings, f"{self.settings.topic_prefix}.timer.{self.settings.node_id}")
        )
        # Fences any earlier incarnation with this id and aborts its open transaction.
        self.producer.init_transactions(30)
        # Before any entry is restored or fired: a paused queue's jobs are held from the first step.
        self.queue_feed = QueueSettingsFeed(self.settings, self.topics.queue_settings)
        self._take_queue_settings(self.queue_feed.catch_up())
        self.consumer = Consumer(consumer_config(self.settings, GROUP, **{"partition.assignment.strategy": "range"}))
        self.consumer.subscribe([self.topics.events], on_assign=self._on_assign, on_revoke=self._on_revoke)
        log.info("timer started")
        try:
            while not self.stop.is_set():
                self.step()
        finally:
            self.consumer.close()
            self.queue_feed.close()
            self.producer.flush(10)

    def _on_assign(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        numbers = {tp.partition for tp in partitions}
        self._restore(numbers - self.owned)
        self.owned |= numbers
        log.info("timer owns partitions %s with %d pending jobs", sorted(self.owned), len(self.entries))

    def _on_revoke(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        numbers = {tp.partition for tp in partitions}
        gone = [job for job, p in self.partition_of.items() if p in numbers]
        for job in gone:
            self.entries.pop(job, None)
            self.partition_of.pop(job, None)
        self.buckets.drop(gone)
        self.owned -= numbers
        # Their uncommitted input goes too: its offsets were never committed, so the new owner reads it again.
        self._changed = {job: p for job, p in self._changed.items() if p not in numbers}
        self._dead = [(record, why) for record, why in self._dead if record.partition not in numbers]

    def _restore(self, partitions: set[int]) -> None:
        """Reload the entries of newly owned partitions from the changelog, to its end."""
        if not partitions:
            return
        restorer = Consumer(consumer_config(self.settings, f"{GROUP}-restore", **{"enable.partition.eof": True}))
        try:
            tps = []
            for p in partitions:
                low, high = restorer.get_watermark_offsets(TopicPartition(self.topics.timer_state, p), timeout=10)
                if high > low:
                    tps.append(TopicPartition(self.topics.timer_state, p, low))
            if not tps:
                return
            restorer.assign(tps)
            remaining = {tp.partition for tp in tps}
            while remaining:
                msg = restorer.poll(1.0)
                if msg is None:
                    continue
                err = msg.error()
                if err is not None and err.code() == KafkaError._PARTITION_EOF:
                    remaining.discard(msg.partition() or 0)
                    continue
                try:
                    record = read_record(msg)
                except KafkaException as exc:
                    raise TimerError(f"restoring the changelog failed: {exc}") from exc
                if record is None:
                    continue
                self._restore_one(record)
        finally:
            restorer.close()

    def _restore_one(self, record: Record) -> None:
        """One changelog record; one that does not read as an entry is set aside and its job skipped, since a
        changelog the timer cannot restore past would stop its partitions for good."""
        try:
            if record.key is None:
                raise TimerError("a changelog record without a job id")
            job_id = record.key.decode()
            entry = None if record.value is None else decode_entry(record.value)
        except (TimerError, ValueError) as exc:  # ValueError: pydantic's ValidationError, UnicodeDecodeError
            self._dead.append((record, exc))
            return
        self._put(job_id, record.partition, entry)

    # -- one step ----------------------------------------------------------------------------------------------
    def step(self) -> None:
        wait = MAX_IDLE_WAIT
        next_ms = self.buckets.next_due_ms()
        if next_ms is not None:
            lead_ms = self.lead.total_seconds() * 1000
            wait = min(wait, max(0.0, (next_ms - lead_ms - to_ms(self.clock.now())) / 1000))
        if self._uncommitted:
            wait = min(wait, max(0.0, self._last_commit + INPUT_COMMIT_INTERVAL - time.monotonic()))
        messages = take(self.consumer, 1000, wait)
        if self.queue_feed is not None:
            self._take_queue_settings(self.queue_feed.take())
        out: list[Envelope] = []
        now = self.clock.now()
        for msg in messages:
            self._consume_one(msg, now, self._changed, out)
        self._uncommitted = self._uncommitted or bool(messages)
        for job_id in self.buckets.pop_due(to_ms(now + self.lead)):
            entry = self.entries.get(job_id)
            if entry is None:
                continue
            partition = self.partition_of[job_id]  # before _put: an entry that fired its last (a purge) goes
            new, emitted = fire_entry(entry, now, self.lead, self.queues.settings_for)
            self._put(job_id, partition, new)
            self._changed[job_id] = partition
            out.extend(emitted)
        # Events out (due jobs, retries) are committed at once. Input that only arms later timers may wait up to
        # INPUT_COMMIT_INTERVAL to share a transaction: one per poll cost the broker most of its CPU under load.
        pending = self._uncommitted or bool(self._changed) or bool(self._dead)
        if out or (pending and time.monotonic() - self._last_commit >= INPUT_COMMIT_INTERVAL):
            self._commit(self._uncommitted, self._changed, out)
            self._changed, self._uncommitted, self._dead = {}, False, []
            self._last_commit = time.monotonic()

    def _consume_one(self, msg: Message, now: datetime, changed: dict[str, int], out: list[Envelope]) -> None:
        record = read_record(msg)  # a consumer error (not the record's) still stops the timer: it is restarted
        if record is None or record.type in IGNORED_TYPES:
            return
        try:
            event = decode_event(record.value or b"")
            # The job's entry, and its callbacks' entries (keyed by callback id, in the job's partition).
            # The queues' settings in force: a failed run's retries, and a dead letter's retention, follow them.
            changes, emitted = decide(self.entries.get, event, now, self.queues.settings_for)
        except Exception as exc:
            # Whatever a record makes the pure fold raise is that record's fault, and nothing changed: it goes aside
            # in this step's transaction, with the offsets.
            self._dead.append((record, exc))
            return
        for key, new in changes.items():
            self._put(key, record.partition, new)
            changed[key] = record.partition
        out.extend(emitted)

    def _put(self, job_id: str, partition: int, entry: Entry | None) -> None:
        if entry is None:
            self.entries.pop(job_id, None)
            self.partition_of.pop(job_id, None)
            self.buckets.cancel(job_id)
            return
        self.entries[job_id] = entry
        self.partition_of[job_id] = partition
        wake = wake_at(entry, self.queues.settings_for)  # None while its queue is paused
        self.buckets.arm(job_id, None if wake is None else to_ms(wake))

    def _take_queue_settings(self, records: list[Record]) -> None:
        """New queue settings in force; a resumed queue's held jobs are armed again (overdue ones fire at once, in
        due order). A record that is no QueueSettingsChanged is set aside, by every timer instance that reads it."""
        for record in records:
            if record.value is None:
                continue  # a tombstone: nothing writes them; the queue keeps the settings it had
            try:
                event = decode_event(record.value)
                if not isinstance(event, QueueSettingsChanged):
                    raise TimerError(f"a {event.type} on the queue settings topic")
            except Exception as exc:
                self._dead.append((record, exc))
                continue
            if self.queues.apply(event):
                for job_id, entry in self.entries.items():
                    if in_queue(entry, event.tenant, event.queue):
                        wake = entry.wake_at()
                        self.buckets.arm(job_id, None if wake is None else to_ms(wake))

    def _commit(self, consumed: bool, changed: dict[str, int], out: list[Envelope]) -> None:
        with self.watchdog:
            self._commit_now(consumed, changed, out)

    def _commit_now(self, consumed: bool, changed: dict[str, int], out: list[Envelope]) -> None:
        p = self.producer
        p.begin_transaction()
        for job_id, partition in changed.items():
            entry = self.entries.get(job_id)
            value = None if entry is None else entry.model_dump_json().encode()
            p.produce(self.topics.timer_state, value, key=job_id.encode(), partition=partition)
        for event in out:
            key, value, headers = record_of(event)
            p.produce(self.topics.events, value, key=key, headers=headers)
        for record, why in self._dead:
            produce_dead_record(p, self.topics.dead_records, record, CONSUMER_NAME, why, self.clock.now())
        if consumed:
            positions = self.consumer.position(self.consumer.assignment())
            p.send_offsets_to_transaction(
                [tp for tp in positions if tp.offset >= 0], self.consumer.consumer_group_metadata(), 30
            )
        p.commit_transaction(30)


def serve(settings: Settings, clock: Clock) -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    TimerService(settings, clock, stop).run()
