"""An asyncio face on confluent-kafka's producer: ``await publish(...)`` returns once the broker acknowledged."""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from chronohook.errors import PublishFailed
from chronohook.kafka.records import Headers, record_of
from chronohook.tracing import current_traceparent
from schemas.events import Envelope

log = logging.getLogger("chronohook.kafka")


class AsyncEventProducer:
    """Idempotent ``acks=all`` producer. A thread serves delivery reports and resolves the awaiting futures."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._producer = Producer(config)
        # Filled by delivery callbacks (inside poll, on whichever thread polls), drained after it; deque
        # append/popleft are atomic, so the delivery thread and a producing thread may both drain.
        self._reports: collections.deque[_Report] = collections.deque()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="kafka-delivery", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)
            self._hand_over()

    def _hand_over(self) -> None:
        """Settle the reports gathered by the last poll with one wake-up of the event loop, not one per record."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Report]] = {}
        while True:
            try:
                report = self._reports.popleft()
            except IndexError:
                break
            by_loop.setdefault(report[0], []).append(report)
        for loop, batch in by_loop.items():
            if not loop.is_closed():
                loop.call_soon_threadsafe(_settle_all, batch)

    async def publish(self, topic: str, events: list[Envelope]) -> list[tuple[int, int]]:
        """Append ``events`` (in order, keyed by job id); return their (partition, offset) once all are acknowledged.

        Raises PublishFailed unless every event was acknowledged by all in-sync replicas.
        """
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[tuple[int, int]]] = []
        traceparent = current_traceparent()  # the trace they are written in (the API call's, a delivery's)
        for event in events:
            future: asyncio.Future[tuple[int, int]] = loop.create_future()
            futures.append(future)
            self._produce(topic, event, loop, future, traceparent)
        results = await asyncio.gather(*futures, return_exceptions=True)
        positions: list[tuple[int, int]] = []
        for result in results:
            if isinstance(result, BaseException):
                raise PublishFailed(str(result)) from result
            positions.append(result)
        return positions

    async def publish_tombstone(self, topic: str, key: bytes, headers: Headers) -> tuple[int, int]:
        """Append a record with ``key`` and no value (a compacted topic's removal of the key); its (partition, offset)
        once acknowledged. Raises PublishFailed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[int, int]] = loop.create_future()
        self._produce_record(topic, key, None, headers, loop, future)
        return await future

    def _produce(
        self,
        topic: str,
        event: Envelope,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[tuple[int, int]],
        traceparent: str | None = None,
    ) -> None:
        key, value, headers = record_of(event, traceparent)
        self._produce_record(topic, key, value, headers, loop, future)

    def _produce_record(
        self,
        topic: str,
        key: bytes,
        value: bytes | None,
        headers: Headers,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[tuple[int, int]],
    ) -> None:
        def report(err: KafkaError | None, msg: Message) -> None:
            partition, offset = msg.partition(), msg.offset()
            outcome: PublishFailed | tuple[int, int]
            if err is not None or partition is None or offset is None:
                outcome = PublishFailed(str(err))
            else:
                outcome = (partition, offset)
            self._reports.append((loop, future, outcome))

        while True:
            try:
                self._producer.produce(topic, value, key=key, headers=headers, on_delivery=report)
                return
            except BufferError:
                # The local queue is full; let delivery reports drain it.
                self._producer.poll(0.01)
                self._hand_over()

    def ping(self, timeout: float = 2.0) -> None:
        """Raise unless the broker answers a metadata request."""
        self._producer.list_topics(timeout=timeout)

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self._producer.flush(timeout)
        self._hand_over()


_Report = tuple[asyncio.AbstractEventLoop, "asyncio.Future[tuple[int, int]]", "PublishFailed | tuple[int, int]"]


def _settle_all(reports: list[_Report]) -> None:
    for _, future, outcome in reports:
        if future.done():
            continue
        if isinstance(outcome, PublishFailed):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class TransactionalAppender:
    """Appends a group of events as one Kafka transaction: read_committed consumers see all of them or none.

    One transaction at a time per process (Kafka's rule for a transactional id); the blocking commit runs in a
    worker thread so the event loop keeps serving other requests meanwhile.
    """

    def __init__(self, config: dict[str, Any], init_timeout: float = 30.0) -> None:
        self._producer = Producer(config)
        self._producer.init_transactions(init_timeout)
        self._lock = asyncio.Lock()

    async def publish(self, topic: str, events: list[Envelope]) -> list[tuple[int, int]]:
        """Append ``events`` atomically; return their (partition, offset). Raises PublishFailed, nothing visible."""
        async with self._lock:
            return await asyncio.to_thread(self._in_transaction, topic, events)

    def _in_transaction(self, topic: str, events: list[Envelope]) -> list[tuple[int, int]]:
        positions: list[tuple[int, int] | None] = [None] * len(events)
        failures: list[str] = []

        def reporter(index: int) -> Any:
            def report(err: KafkaError | None, msg: Message) -> None:
                partition, offset = msg.partition(), msg.offset()
                if err is not None or partition is None or offset is None:
                    failures.append(str(err))
                else:
                    positions[index] = (partition, offset)

            return report

        p = self._producer
        traceparent = current_traceparent()  # asyncio.to_thread runs this in the caller's context
        try:
            p.begin_transaction()
            for index, event in enumerate(events):
                key, value, headers = record_of(event, traceparent)
                while True:
                    try:
                        p.produce(topic, value, key=key, headers=headers, on_delivery=reporter(index))
                        break
                    except BufferError:
                        p.poll(0.01)
            p.commit_transaction(30)  # flushes, so every delivery report has been served
        except KafkaException as exc:
            self._abort()
            raise PublishFailed(str(exc)) from exc
        if failures or any(position is None for position in positions):
            raise PublishFailed(failures[0] if failures else "a record of the transaction was not acknowledged")
        return [position for position in positions if position is not None]

    def _abort(self) -> None:
        try:
            self._producer.abort_transaction(30)
        except KafkaException:
            # Not abortable (fenced, fatal): the next begin_transaction fails and the caller sees a 503 again.
            log.warning("aborting a failed ingest transaction failed", exc_info=True)

    def close(self, timeout: float = 10.0) -> None:
        self._producer.flush(timeout)
