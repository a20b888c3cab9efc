"""One timer step's Kafka transaction: the changed entries, the events decided, the records set aside, the offsets.

The producer's local queue never overflows into an error: on ``BufferError`` it is polled (its delivery reports
served, room made) and the record produced again, as the ingest's transactional appender does. Whatever goes
wrong inside the transaction aborts it before anything else happens (decision 0028): an open transaction left to
time out would hold every read_committed consumer of its partitions for up to ``transaction.timeout.ms``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from confluent_kafka import KafkaError, Message

from chronohook import tracing
from chronohook.kafka.dead_records import produce_dead_record
from chronohook.kafka.records import Record, record_of
from chronohook.kafka.topics import Topics
from schemas import changelog_codec
from schemas.changelog import Entry
from schemas.events import Envelope, JobDue
from services.timer.store import Row
from services.timer.tracing import traceparent_for

log = logging.getLogger("chronohook.timer")

# Its name on the records it sets aside.
CONSUMER_NAME = "timer"
# How long one poll waits for the local queue to drain a little, when it is full.
FULL_QUEUE_POLL_S = 0.01


def produce(producer: Any, topic: str, value: bytes | None, **kwargs: Any) -> None:
    """``producer.produce``, waiting for room while the local queue is full (``BufferError``)."""
    while True:
        try:
            producer.produce(topic, value, **kwargs)
            return
        except BufferError:
            producer.poll(FULL_QUEUE_POLL_S)


def commit_step(
    producer: Any,
    consumer: Any,
    topics: Topics,
    rows: list[tuple[str, int, Row | None]],
    out: list[Envelope],
    dead: list[tuple[Record, BaseException]],
    consumed: bool,
    now: datetime,
    entries: Mapping[str, tuple[int, Entry | None]] | None = None,
) -> dict[int, int]:
    """Produce and commit one step; the last changelog offset written per partition, from the delivery reports.
    ``entries``: the step's changed entries, whose trace context the events carry (services/timer/tracing.py)."""
    delivered: dict[int, int] = {}
    spans: list[Any] = []  # a ``timer fire`` span per JobDue, ended once the transaction is (tracing on)

    def report(err: KafkaError | None, msg: Message) -> None:
        if err is None:
            part, offset = msg.partition(), msg.offset()
            if part is not None and offset is not None and offset > delivered.get(part, -1):
                delivered[part] = offset

    producer.begin_transaction()
    try:
        version = changelog_codec.headers()
        for job_id, partition, row in rows:
            value = None if row is None else row.value
            produce(
                producer, topics.timer_state, value, key=job_id.encode(), partition=partition, headers=version,
                on_delivery=report,
            )  # fmt: skip
        for event in out:
            traceparent = None if entries is None else traceparent_for(event, entries)
            if traceparent is not None and isinstance(event, JobDue) and tracing.enabled():
                spans.append(fire := tracing.start_span("timer fire", traceparent, "PRODUCER"))
                traceparent = tracing.traceparent_of(fire) or traceparent
            key, value, headers = record_of(event, traceparent)
            produce(producer, topics.events, value, key=key, headers=headers)
        for record, why in dead:
            produce_dead_record(producer, topics.dead_records, record, CONSUMER_NAME, why, now)
        if consumed or out:
            # Also with nothing consumed: the group checks the generation that sends offsets, so a timer that was
            # paused past its session (its partitions since given to another) is fenced here instead of firing twice.
            positions = consumer.position(consumer.assignment())
            producer.send_offsets_to_transaction(
                [tp for tp in positions if tp.offset >= 0], consumer.consumer_group_metadata(), 30
            )
        with tracing.ended(spans):
            producer.commit_transaction(30)
    except BaseException:
        abort(producer)
        raise
    # Every record of a committed transaction was delivered; serve any report not yet handed to us.
    producer.poll(0)
    return delivered


def abort(producer: Any) -> None:
    try:
        producer.abort_transaction(5)
    except Exception as exc:  # not abortable (fenced, fatal): the restart's init_transactions ends it
        log.warning("aborting the failed transaction failed too: %s", exc)
