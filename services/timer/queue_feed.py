"""The compacted ``<prefix>.queue-settings`` topic, read whole by every timer instance (decision 0015).

A queue's jobs are spread over every partition of the job log, so over every timer instance: each one reads every
partition of the settings topic, from the beginning, without a consumer group (``assign``, no commits), and keeps
the latest settings per queue in memory. At start it reads to the end offsets it saw before firing anything, so a
restarted timer holds a paused queue's jobs from its first step, however long that takes (no deadline; the records
are applied as they are read, decision 0030); after that each step takes what has arrived.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from chronohook.kafka.config import consumer_config
from chronohook.kafka.groups import group_id
from chronohook.kafka.records import Record, read_record
from chronohook.settings import Settings
from services.timer.errors import TimerError

# Never used to commit or to join a group (the feed assigns itself every partition); librdkafka wants one anyway.
GROUP = "timer-queue-settings"
# Records taken per step at most; the rest wait for the next step.
BATCH = 500
# The start's catch-up logs how far it got this often.
PROGRESS_EVERY_S = 10.0
log = logging.getLogger("chronohook.timer")


class QueueSettingsFeed:
    def __init__(self, settings: Settings, topic: str) -> None:
        config = consumer_config(settings, group_id(settings, GROUP))
        # A static member id is for group members; this consumer is none, and must not pose as the timer.
        config.pop("group.instance.id", None)
        self.topic = topic
        self._consumer: Any = Consumer(config)

    def catch_up(self, progress_every_s: float = PROGRESS_EVERY_S) -> Iterator[Record]:
        """Assign every partition from the beginning and yield each record up to the end offsets as they are now.

        No deadline (decision 0030): a topic of millions of queues takes as long as it takes, its progress logged
        every ``progress_every_s``; the caller applies each record as it comes, so nothing but the live queues'
        settings is kept. A broker that stops answering is left to the consumer's own errors, which raise.
        """
        meta = self._consumer.list_topics(self.topic, timeout=10)
        found = meta.topics.get(self.topic)
        if found is None or found.error is not None:
            raise TimerError(f"the queue settings topic {self.topic} is not readable")
        partitions = sorted(found.partitions)
        ends = {}
        for p in partitions:
            _low, high = self._consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)
            ends[p] = high
        self._consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions])
        remaining = {p for p, high in ends.items() if high > 0}
        started = time.monotonic()
        next_report = started + progress_every_s
        read = 0
        while remaining:
            if time.monotonic() >= next_report:
                log.info("reading %s: %d records so far, %d partitions to go", self.topic, read, len(remaining))
                next_report = time.monotonic() + progress_every_s
            for msg in self._consumer.consume(BATCH, 0.5):
                record = self._read(msg)
                if record is None:
                    continue
                read += 1
                yield record
                if record.offset + 1 >= ends[record.partition]:
                    remaining.discard(record.partition)
            for tp in self._consumer.position([TopicPartition(self.topic, p) for p in list(remaining)]):
                # Compaction (or aborted transactions' markers) can leave the last offsets without a record.
                if tp.offset >= ends[tp.partition]:
                    remaining.discard(tp.partition)
        log.info("read %s to its end: %d records in %.1f s", self.topic, read, time.monotonic() - started)

    def take(self) -> list[Record]:
        """What has arrived since, without waiting."""
        return [r for r in map(self._read, self._consumer.consume(BATCH, 0)) if r is not None]

    def close(self) -> None:
        self._consumer.close()

    @staticmethod
    def _read(msg: Any) -> Record | None:
        try:
            return read_record(msg)
        except KafkaException as exc:
            raise TimerError(f"reading the queue settings failed: {exc}") from exc
