"""The projector's shell: consume the job log, fold each batch into SQL with its offsets. It sends nothing (callbacks
are the timer's decisions and the executor's requests), so a rebuild of the read models has no side effects."""

from __future__ import annotations

import logging
import os
import signal
import threading
from datetime import datetime
from typing import Any, Protocol

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from sqlalchemy import exc as sa_exc

from chronohook.clock import Clock
from chronohook.collector import fewer_collections
from chronohook.heartbeats import Pulse, PulsingEvent
from chronohook.kafka.batches import take
from chronohook.kafka.config import consumer_config, producer_config
from chronohook.kafka.dead_records import DeadRecordSink
from chronohook.kafka.groups import group_id
from chronohook.kafka.records import Record, read_record
from chronohook.kafka.topics import Topics, ensure_topics
from chronohook.metrics import observed
from chronohook.readmodel.store import PROJECTOR_CONSUMER as CONSUMER_NAME
from chronohook.readmodel.store import Consumed, ReadModelStore
from chronohook.readmodel.views import ReadModelError
from chronohook.settings import Settings
from chronohook.store.engine import create_schema, make_engine
from schemas import CodecError, decode_event
from schemas.topics import deleted_at_of, queue_of_settings_key
from services.projector import metrics as projector_metrics

log = logging.getLogger("chronohook.projector")
# The role: the group id is <prefix>.projector. Its offsets live in the database, so there is nothing to adopt.
GROUP = "projector"
# Fetches held by the broker until 256 KB are readable or 20 ms passed: answered at the first readable byte, each
# fetch brought one or two records under load, and every fetch costs the broker and librdkafka's threads. The batch
# is what one fetch brings (~20 ms of records, as the 20 ms linger gave before), and reads trail writes no more than
# they did (decision 0027).
CONSUMER_FETCH = {"fetch.min.bytes": 256 * 1024, "fetch.wait.max.ms": 20}


def is_the_records_fault(error: BaseException) -> bool:
    """True when applying one record failed because of the record (set it aside), not of the database or our code.

    The record's: a view the fold refuses (ReadModelError: another tenant's event), a value a model or a codec
    refuses (ValueError), text or a row the database refuses (DataError: NUL, bad Unicode; IntegrityError). Anything
    else (a lost connection is an OperationalError) stops the projector, to be restarted and to try again.
    """
    if isinstance(error, sa_exc.StatementError) and not isinstance(error, sa_exc.DBAPIError):
        # An error raised while binding a parameter, wrapped.
        return error.orig is not None and is_the_records_fault(error.orig)
    return isinstance(error, ReadModelError | ValueError | sa_exc.DataError | sa_exc.IntegrityError)


class RecordSink(Protocol):
    """Where a record the projector cannot decode or apply goes: DeadRecordSink live, a counter in a replay."""

    def set_aside(self, record: Record, error: BaseException | str, at: datetime) -> None: ...

    def close(self) -> None: ...


class Projector:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        store: ReadModelStore,
        stop: threading.Event,
        dead: RecordSink | None = None,
        consumer: str = CONSUMER_NAME,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.store = store
        self.stop = stop
        self.topics = Topics.from_settings(settings)
        # Where bad records go; its own producer (built in run() unless given), since offsets live in the database.
        self.dead = dead
        # The name its offsets are stored under: the live projector's, or a replay's own (services/projector/replay.py).
        self.consumer = consumer

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        # Offsets live in the database, beside the rows they produced; Kafka's group offsets are not used.
        self.store.forget_cached()  # another process may have changed these jobs while it owned them
        stored = self.store.offsets(self.consumer)
        for tp in partitions:
            tp.offset = stored.get((tp.topic, tp.partition), OFFSET_BEGINNING)
        consumer.assign(partitions)

    def run(self) -> None:
        if self.dead is None:
            self.dead = DeadRecordSink(producer_config(self.settings), self.topics.dead_records, CONSUMER_NAME)
        consumer = Consumer(consumer_config(self.settings, group_id(self.settings, GROUP), **CONSUMER_FETCH))
        # The queue-settings topic too (decision 0015): its records fold into the queues' rows.
        consumer.subscribe([self.topics.events, self.topics.queue_settings], on_assign=self._on_assign)
        log.info("projector started")
        try:
            while not self.stop.is_set():
                # A batch is a database transaction: what the held fetch brought, plus what is already in.
                msgs = take(consumer, 1000, 0.05, linger=0.002)
                records = [record for record in map(read_record, msgs) if record is not None]
                if records:
                    self.project(records)
        finally:
            consumer.close()
            self.dead.close()

    def project(self, records: list[Record]) -> None:
        """Fold ``records`` in order; set aside those that do not decode or cannot be applied, and move on.

        Offsets only move forward, in log order: the records before a bad one are applied, then it is set aside
        and the stored offset moved past it, then the rest. A crash in between leaves nothing skipped unrecorded.
        """
        projector_metrics.projected(records)
        segment: list[tuple[Record, Consumed]] = []
        for record in records:
            if record.value is None and record.topic == self.topics.queue_settings:
                self._apply(segment)
                segment = []
                self._remove_queue(record)
                continue
            try:
                event = decode_event(record.value or b"")
            except CodecError as exc:
                self._apply(segment)
                segment = []
                self._set_aside(record, exc)
                continue
            segment.append((record, Consumed(record.topic, record.partition, record.offset, event)))
        self._apply(segment)

    def _remove_queue(self, record: Record) -> None:
        """A deleted queue's tombstone (decision 0030): its row goes."""
        try:
            tenant, queue_id = queue_of_settings_key(record.key)
            deleted_at = deleted_at_of(record.headers)
        except ValueError as exc:
            self._set_aside(record, exc)
            return
        where = (record.topic, record.partition, record.offset)
        self.store.remove_queue(self.consumer, where, tenant, queue_id, deleted_at)

    def _apply(self, segment: list[tuple[Record, Consumed]]) -> None:
        if not segment:
            return
        try:
            self.store.apply(self.consumer, [consumed for _, consumed in segment], self.clock.now())
        except Exception as exc:
            if not is_the_records_fault(exc):
                raise
            if len(segment) == 1:
                self._set_aside(segment[0][0], exc)
                return
            # Nothing of the batch was written: apply it record by record, so only the bad one is set aside.
            log.info("a batch of %d failed (%s); applying it record by record", len(segment), type(exc).__name__)
            for one in segment:
                self._apply([one])

    def _set_aside(self, record: Record, error: BaseException) -> None:
        assert self.dead is not None
        self.dead.set_aside(record, error, self.clock.now())  # acknowledged before the offset moves past it
        self.store.skip(self.consumer, record.topic, record.partition, record.offset)


def serve(settings: Settings, clock: Clock) -> None:
    if settings.projector_nice:
        # Behind the delivery path when they share CPUs: in a burst the projector took ~30% of two cores from the
        # timer and the executors (measured, decision 0029); the read models catch up after it.
        os.nice(settings.projector_nice)
    ensure_topics(settings)
    engine = make_engine(settings.resolved_database_url)
    create_schema(engine)
    store = ReadModelStore(engine)
    fewer_collections()
    pulse = Pulse()
    stop = PulsingEvent(pulse)  # asked once per batch: the heartbeat's pulse (chronohook/heartbeats.py)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    projector = Projector(settings, clock, store, stop)
    projector_metrics.register(projector)
    with observed(settings, "projector", pulse):
        projector.run()
