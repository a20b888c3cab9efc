"""How an event becomes a Kafka record and back, in one place: key = job id, value = codec bytes, header = type."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Message

from chronohook.tracing import TRACEPARENT
from schemas import encode_event
from schemas.events import Envelope
from schemas.topics import TYPE_HEADER

Headers = list[tuple[str, str | bytes | None]]


def record_of(event: Envelope, traceparent: str | None = None) -> tuple[bytes, bytes, Headers]:
    """``traceparent``: the W3C trace context of the job's trace (chronohook/tracing.py), carried in a header."""
    event_type = getattr(event, "type")  # noqa: B009 - every concrete event defines it
    headers: Headers = [(TYPE_HEADER, str(event_type).encode())]
    if traceparent is not None:
        headers.append((TRACEPARENT, traceparent.encode()))
    return event.job_id.encode(), encode_event(event), headers


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    type: str | None
    # Every header as it came, the type among them: a record set aside keeps them.
    headers: tuple[tuple[str, bytes | None], ...] = ()


def read_record(msg: Message) -> Record | None:
    """The consumed record; None for an end-of-partition notice; raises KafkaException for any other error."""
    err = msg.error()
    if err is not None:
        if err.code() == KafkaError._PARTITION_EOF:
            return None
        raise KafkaException(err)
    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
    assert topic is not None and partition is not None and offset is not None
    headers = msg.headers() or []
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers)
    event_type = None
    kept: list[tuple[str, bytes | None]] = []
    for name, value in pairs:
        raw = value.encode() if isinstance(value, str) else value
        kept.append((name, raw))
        if name == TYPE_HEADER and raw is not None:
            # A header is anyone's bytes: one that is not UTF-8 is still a type, just not one we know.
            event_type = raw.decode(errors="replace")
    key, value = msg.key(), msg.value()
    return Record(
        topic,
        partition,
        offset,
        key.encode() if isinstance(key, str) else key,
        value.encode() if isinstance(value, str) else value,
        event_type,
        tuple(kept),
    )
