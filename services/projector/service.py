"""The projector's shell: consume the job log, fold each batch into SQL with its offsets, send callbacks."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from chronohook.clock import Clock
from chronohook.kafka.batches import take
from chronohook.kafka.config import consumer_config
from chronohook.kafka.records import read_record
from chronohook.kafka.topics import Topics, ensure_topics
from chronohook.outbound.sender import AiohttpSender
from chronohook.readmodel.callbacks import CallbackDispatcher
from chronohook.readmodel.store import PROJECTOR_CONSUMER as CONSUMER_NAME
from chronohook.readmodel.store import Consumed, ReadModelStore
from chronohook.settings import Settings
from chronohook.store.engine import create_schema, make_engine
from schemas import decode_event

log = logging.getLogger("chronohook.projector")
GROUP = "chronohook-projector"


class Projector:
    def __init__(self, settings: Settings, clock: Clock, store: ReadModelStore, stop: threading.Event) -> None:
        self.settings = settings
        self.clock = clock
        self.store = store
        self.stop = stop
        self.topics = Topics.from_settings(settings)
        self.on_callbacks: list[Any] = []

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        # Offsets live in the database, beside the rows they produced; Kafka's group offsets are not used.
        self.store.forget_cached()  # another process may have changed these jobs while it owned them
        stored = self.store.offsets(CONSUMER_NAME)
        for tp in partitions:
            tp.offset = stored.get((tp.topic, tp.partition), OFFSET_BEGINNING)
        consumer.assign(partitions)

    def run(self) -> None:
        consumer = Consumer(consumer_config(self.settings, GROUP))
        consumer.subscribe([self.topics.events], on_assign=self._on_assign)
        log.info("projector started")
        try:
            while not self.stop.is_set():
                # 20 ms of linger: reads trail writes a little more, in exchange for batches (one database
                # transaction each) many times bigger under load.
                msgs = take(consumer, 1000, 0.05, linger=0.02)
                batch = []
                for msg in msgs:
                    record = read_record(msg)
                    if record is not None:
                        event = decode_event(record.value or b"")
                        batch.append(Consumed(record.topic, record.partition, record.offset, event))
                if batch:
                    new_callbacks = self.store.apply(CONSUMER_NAME, batch, self.clock.now())
                    if new_callbacks:
                        for notify in self.on_callbacks:
                            notify()
        finally:
            consumer.close()


def serve(settings: Settings, clock: Clock) -> None:
    ensure_topics(settings)
    engine = make_engine(settings.resolved_database_url)
    create_schema(engine)
    store = ReadModelStore(engine)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    projector = Projector(settings, clock, store, stop)
    failure: list[BaseException] = []

    def callbacks_thread() -> None:
        async def main() -> None:
            sender = AiohttpSender(body_limit=settings.response_body_limit)
            dispatcher = CallbackDispatcher(store, sender, clock, settings.default_timeout_seconds)
            loop = asyncio.get_running_loop()
            projector.on_callbacks.append(lambda: dispatcher.notify_threadsafe(loop))
            try:
                await dispatcher.run(stop)
            finally:
                await sender.close()

        try:
            asyncio.run(main())
        except BaseException as exc:
            failure.append(exc)
            stop.set()

    thread = threading.Thread(target=callbacks_thread, name="callbacks", daemon=True)
    thread.start()
    try:
        projector.run()
    finally:
        stop.set()
        thread.join(10)
    if failure:
        raise failure[0]
