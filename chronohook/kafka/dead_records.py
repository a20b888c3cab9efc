"""Setting a bad record aside: the one way every consumer survives a record it cannot decode or apply.

The record goes to ``<prefix>.dead-records`` as it came (key, value, headers), with chronohook's
``chronohook.dead.*`` headers saying where it came from and why (schemas/dead_records.py); a log line and a
counter go with it, and the consumer moves on. How the set-aside record is tied to the consumer's progress is the
consumer's part: a transactional consumer produces it inside the transaction that holds its offsets
(``produce_dead_record``); one that keeps its offsets elsewhere waits for the broker's acknowledgement first
(``DeadRecordSink``), then stores its offset past the record.
"""

from __future__ import annotations

import collections
import logging
import threading
from datetime import datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from chronohook.errors import PublishFailed
from chronohook.kafka.records import Headers, Record
from schemas.dead_records import HEADER_PREFIX, MAX_REASON_CHARS, DeadRecord
from schemas.topics import MAX_MESSAGE_BYTES

log = logging.getLogger("chronohook.dead_records")

# Room left in a record for its key, headers and framing: what the bad value may keep of itself.
_HEADROOM_BYTES = 64 * 1024
MAX_KEPT_VALUE_BYTES = MAX_MESSAGE_BYTES - _HEADROOM_BYTES
MAX_KEPT_KEY_BYTES = 16 * 1024
MAX_KEPT_HEADER_BYTES = 16 * 1024

_counts: collections.Counter[str] = collections.Counter()
_counts_lock = threading.Lock()


def set_aside_counts() -> dict[str, int]:
    """Records set aside by this process so far, per consumer."""
    with _counts_lock:
        return dict(_counts)


def reason_of(error: BaseException | str) -> str:
    """``Type: message``, capped: a message may quote the bad record itself."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    if len(text) > MAX_REASON_CHARS:
        text = text[: MAX_REASON_CHARS - 1] + "…"
    return text


def dead_record(
    record: Record, consumer: str, error: BaseException | str, at: datetime
) -> tuple[bytes | None, bytes | None, Headers]:
    """The record to produce: the original key and value (cut only when they cannot fit), its headers, then ours."""
    value = record.value
    cut = value is not None and len(value) > MAX_KEPT_VALUE_BYTES
    # The source's own headers, except any posing as ours (a reader takes the last of each name anyway), within a
    # budget: together with the cut key and value they leave room for ours under the record limit.
    headers: Headers = []
    budget = MAX_KEPT_HEADER_BYTES
    source = [(name, raw) for name, raw in record.headers if not name.startswith(HEADER_PREFIX)]
    for name, raw in source:
        budget -= len(name.encode()) + len(raw or b"")
        if budget < 0:
            break
        headers.append((name, raw))
    dropped = len(source) - len(headers)
    info = DeadRecord(
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        consumer=consumer,
        reason=reason_of(error),
        dead_at=at,
        value_bytes=len(value) if cut and value is not None else None,
        headers_dropped=dropped or None,
    )
    if cut and value is not None:
        value = value[:MAX_KEPT_VALUE_BYTES]
    key = record.key[:MAX_KEPT_KEY_BYTES] if record.key is not None else None
    headers.extend(info.headers())
    return key, value, headers


def _noted(record: Record, consumer: str, error: BaseException | str) -> None:
    with _counts_lock:
        _counts[consumer] += 1
    log.warning("%s set aside %s/%d@%d: %s", consumer, record.topic, record.partition, record.offset, reason_of(error))


def produce_dead_record(
    producer: Any, topic: str, record: Record, consumer: str, error: BaseException | str, at: datetime
) -> None:
    """Produce into the caller's open transaction: it commits (or aborts) with the consumer's offsets."""
    key, value, headers = dead_record(record, consumer, error, at)
    while True:
        try:
            producer.produce(topic, value, key=key, headers=headers)
            break
        except BufferError:
            producer.poll(0.01)
    _noted(record, consumer, error)


class DeadRecordSink:
    """Its own idempotent producer, for consumers whose progress is not a Kafka transaction: ``set_aside`` returns
    once every in-sync replica has the record, so the caller may then move its offset past the bad one."""

    def __init__(self, config: dict[str, Any], topic: str, consumer: str, timeout: float = 30.0) -> None:
        self._producer = Producer(config)
        self.topic = topic
        self.consumer = consumer
        self._timeout = timeout
        self._lock = threading.Lock()

    def set_aside(self, record: Record, error: BaseException | str, at: datetime) -> None:
        """Blocking; raises PublishFailed when the broker did not take it (then the consumer must not move on)."""
        key, value, headers = dead_record(record, self.consumer, error, at)
        outcome: list[KafkaError | None] = []

        def report(err: KafkaError | None, _msg: Message) -> None:
            outcome.append(err)

        with self._lock:  # one at a time: flush() waits for everyone's records, and outcomes stay ours
            try:
                self._producer.produce(self.topic, value, key=key, headers=headers, on_delivery=report)
            except (BufferError, KafkaException) as exc:
                raise PublishFailed(f"setting a record aside failed: {exc}") from exc
            self._producer.flush(self._timeout)
        if not outcome or outcome[0] is not None:
            raise PublishFailed(f"setting a record aside failed: {outcome[0] if outcome else 'no acknowledgement'}")
        _noted(record, self.consumer, error)

    def close(self, timeout: float = 10.0) -> None:
        self._producer.flush(timeout)
