"""The event-log adapter ingest appends through: Kafka for real, a list for unit tests."""

from __future__ import annotations

from typing import Protocol

from confluent_kafka import KafkaException

from chronohook.errors import KafkaUnavailable, PublishFailed
from chronohook.kafka.producer import AsyncEventProducer, TransactionalAppender
from chronohook.kafka.records import Headers, record_of
from schemas.events import Envelope


class EventLog(Protocol):
    async def append(self, events: list[Envelope]) -> list[tuple[int, int]]:
        """Append in order; return each event's (partition, offset) once durable. Raise PublishFailed."""
        ...

    async def append_atomically(self, events: list[Envelope]) -> list[tuple[int, int]]:
        """Like ``append``, but readers see all of ``events`` or none of them, whatever fails part-way."""
        ...

    def ping(self) -> None:
        """Return once the log answers; raise KafkaUnavailable when it does not (``/readyz`` says which is down)."""
        ...

    def close(self) -> None: ...


class KafkaEventLog:
    def __init__(
        self, producer: AsyncEventProducer, topic: str, transactional: TransactionalAppender | None = None
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._transactional = transactional

    async def append(self, events: list[Envelope]) -> list[tuple[int, int]]:
        return await self._producer.publish(self._topic, events)

    async def append_tombstone(self, key: str, headers: Headers) -> tuple[int, int]:
        """Append a record with no value: on a compacted topic, ``key``'s removal (decision 0030)."""
        return await self._producer.publish_tombstone(self._topic, key.encode(), headers)

    async def append_atomically(self, events: list[Envelope]) -> list[tuple[int, int]]:
        if self._transactional is None:
            raise PublishFailed("this event log was built without a transactional producer")
        return await self._transactional.publish(self._topic, events)

    def ping(self) -> None:
        try:
            self._producer.ping()
        except KafkaException as exc:
            raise KafkaUnavailable(f"the broker did not answer a metadata request: {exc}") from exc

    def close(self) -> None:
        self._producer.close()
        if self._transactional is not None:
            self._transactional.close()


class InMemoryEventLog:
    """Keeps records as Kafka would (one partition here); ``fail_next`` simulates a broker refusal, ``reachable =
    False`` (or ``close()``) a broker that does not answer."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes, Headers]] = []
        # Records with no value (decision 0030), kept apart: partition 1, the offset their index.
        self.tombstones: list[tuple[bytes, Headers]] = []
        self.fail_next = False
        self.reachable = True

    async def append(self, events: list[Envelope]) -> list[tuple[int, int]]:
        if self.fail_next:
            self.fail_next = False
            raise PublishFailed("simulated broker refusal")
        positions = []
        for event in events:
            self.records.append(record_of(event))
            positions.append((0, len(self.records) - 1))
        return positions

    async def append_atomically(self, events: list[Envelope]) -> list[tuple[int, int]]:
        return await self.append(events)  # one list append: all or nothing already

    async def append_tombstone(self, key: str, headers: Headers) -> tuple[int, int]:
        if self.fail_next:
            self.fail_next = False
            raise PublishFailed("simulated broker refusal")
        self.tombstones.append((key.encode(), headers))
        return (1, len(self.tombstones) - 1)

    def ping(self) -> None:
        if not self.reachable:
            raise KafkaUnavailable("the in-memory log was made unreachable")

    def close(self) -> None:
        self.reachable = False
