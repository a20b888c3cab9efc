"""How an event becomes a Kafka record, in one place: key = job id, value = codec bytes, header = type."""

from __future__ import annotations

from confluent_kafka import Message

from schemas import encode_event
from schemas.events import Envelope

TYPE_HEADER = "type"


def record_of(event: Envelope) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    event_type = getattr(event, "type")  # noqa: B009 - every concrete event defines it
    return event.job_id.encode(), encode_event(event), [(TYPE_HEADER, str(event_type).encode())]


def type_of(msg: Message) -> str | None:
    for name, value in msg.headers() or ():
        if name == TYPE_HEADER and value is not None:
            return bytes(value).decode()
    return None
