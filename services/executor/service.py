"""The executor's shell. At-least-once: a result is produced before its offset is committed.

A consumer thread feeds an asyncio loop; each due job waits out the timer's lead, is sent, and its result
is appended to the results topic; offsets are committed below the oldest job still in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from chronohook.clock import Clock
from chronohook.ids import deterministic_event_id
from chronohook.kafka.batches import take
from chronohook.kafka.config import consumer_config, producer_config
from chronohook.kafka.dead_records import DeadRecordSink
from chronohook.kafka.producer import AsyncEventProducer
from chronohook.kafka.records import Record, read_record
from chronohook.kafka.topics import Topics, ensure_topics
from chronohook.outbound.egress import EgressPolicy
from chronohook.outbound.resolver import SystemResolver
from chronohook.outbound.sender import AiohttpSender, HttpSender
from chronohook.outbound.signing import InMemorySigningKeys, SigningKeysSource, signed
from chronohook.readmodel.alerts import DatabaseAlertDestinations
from chronohook.settings import Settings
from chronohook.store.engine import create_schema, make_engine
from chronohook.store.queue_slots import MemorySlotStore, SqlSlotStore
from chronohook.store.signing_secrets import StoredSigningKeys
from schemas import CodecError, decode_event
from schemas.events import AlertDue, CallbackDue, JobDue, JobRunCancelled
from services.executor.alerts import (
    DestinationSource,
    NoDestinations,
    alert_headers,
    alert_request,
    alert_result_event,
    no_destination_event,
)
from services.executor.callbacks import callback_request, callback_result_event, signed_callback_headers
from services.executor.fairness import FairSlots, host_key
from services.executor.handover import WATCHED_TYPES, JobStops
from services.executor.offsets import OffsetTracker
from services.executor.queue_gate import QueueGate
from services.executor.runs import result_event, signed_request_headers

log = logging.getLogger("chronohook.executor")
GROUP = "chronohook-executor"
# The records the executor acts on (a job's attempt, a callback's attempt); it skips others by their type header.
HANDLED_TYPES = frozenset({"JobDue", "CallbackDue", "AlertDue"})
# Its name on the records it sets aside.
CONSUMER_NAME = "executor"
# Fetches held by the broker until 64 KB are readable or 20 ms passed, not answered at the first readable byte: with
# records landing every millisecond or two, each fetch came back with one or two of them, and every fetch costs the
# broker and librdkafka's threads. 20 ms is well inside the timer's 250 ms lead (decision 0027).
CONSUMER_FETCH = {"fetch.min.bytes": 64 * 1024, "fetch.wait.max.ms": 20}
# Results wait up to 25 ms to share a produce request (5 ms before): nothing waits for a result but its offset's
# commit, and fuller batches halved the producer's CPU and cut the broker's per record 2-3 fold (decision 0027).
RESULT_LINGER_MS = 25
# Offsets are committed at most this often (they were committed after every batch handed over, up to ~200 a
# second): a commit is a broker write, and one lost or late only means jobs sent again, as at-least-once allows.
COMMIT_INTERVAL_S = 0.2
# What a record can make handling it raise, once decoded: its own fault (a value no model or encoder takes), so it
# is set aside. Anything else (the broker not taking a result: PublishFailed) stops the executor, to be restarted.
RECORD_FAULTS = (ValueError, TypeError, ArithmeticError)


class ExecutorService:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        sender: HttpSender,
        producer: AsyncEventProducer,
        dead: DeadRecordSink | None = None,
        queues: QueueGate | None = None,
        signing: SigningKeysSource | None = None,
        alert_destinations: DestinationSource | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.sender = sender
        self.producer = producer
        self.topics = Topics.from_settings(settings)
        self.tracker = OffsetTracker()
        # Requests in flight, and jobs taken in (most waiting out the timer's lead): both bounded. The slots are
        # shared fairly across tenants and capped per host (services/executor/fairness.py).
        self.slots = FairSlots(settings.executor_concurrency, settings.host_concurrency)
        self.admitted = asyncio.Semaphore(settings.executor_concurrency * 8)
        # A queue's max_parallelism across every executor (decision 0017); _main gives the shared database's slots.
        self.queues = queues or QueueGate(MemorySlotStore(), clock)
        # Each tenant's signing keys (cached a few seconds); _main gives the shared database's.
        self.signing = signing or InMemorySigningKeys()
        # Tenants' alert destinations, read at send time (decision 0020); _main gives the shared database's.
        self.alert_destinations = alert_destinations or NoDestinations()
        # Deletes and pauses read from the log: a due job handed out early is not sent if its job was stopped since.
        self.stops = JobStops()
        self.stopping = asyncio.Event()
        self.failure: BaseException | None = None
        # Where bad records go (built in run() unless given): acknowledged before their offset can be committed.
        self.dead = dead

    async def run(self) -> None:
        if self.dead is None:
            self.dead = DeadRecordSink(producer_config(self.settings), self.topics.dead_records, CONSUMER_NAME)
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[list[Message]] = asyncio.Queue(maxsize=4)
        commits: list[list[tuple[str, int, int]]] = []
        lock = threading.Lock()
        halt = threading.Event()
        last_offsets = threading.Event()  # set once the offsets of everything finished are in ``commits``
        tasks: set[asyncio.Task[None]] = set()
        last_commit = time.monotonic()

        def on_revoke(_consumer: Any, partitions: list[TopicPartition]) -> None:
            for tp in partitions:
                self.tracker.forget(tp.topic, tp.partition)

        def consume_loop() -> None:
            consumer = Consumer(consumer_config(self.settings, GROUP, **CONSUMER_FETCH))
            consumer.subscribe([self.topics.events], on_revoke=on_revoke)
            try:
                while not halt.is_set():
                    with lock:
                        pending, commits[:] = list(commits), []
                    for batch in pending:
                        # Asynchronous: a synchronous commit held up the next fetch, so due jobs arrived late.
                        # Losing a commit only means sending a job again, which at-least-once allows.
                        consumer.commit(offsets=[TopicPartition(t, p, o) for t, p, o in batch], asynchronous=True)
                    # 5 ms of linger is well inside the timer's 250 ms lead, and batches the hand-over to the loop.
                    msgs = take(consumer, 500, 0.05, linger=0.005)
                    if msgs:
                        asyncio.run_coroutine_threadsafe(inbox.put(msgs), loop).result()
            except BaseException as exc:
                loop.call_soon_threadsafe(self._fail, exc)
            finally:
                # The last offsets synchronously: while running they go at most every COMMIT_INTERVAL_S, so without
                # this a restart would send the jobs of the last fraction of a second again.
                if last_offsets.wait(10):
                    with lock:
                        pending, commits[:] = list(commits), []
                    for batch in pending:
                        with contextlib.suppress(KafkaException):  # a revoked partition's, or the broker gone
                            consumer.commit(offsets=[TopicPartition(t, p, o) for t, p, o in batch], asynchronous=False)
                consumer.close()

        thread = threading.Thread(target=consume_loop, name="executor-consumer", daemon=True)
        thread.start()
        log.info("executor started")
        try:
            while not self.stopping.is_set():
                try:
                    msgs = await asyncio.wait_for(inbox.get(), timeout=0.1)
                except TimeoutError:
                    msgs = []
                for msg in msgs:
                    record = read_record(msg)
                    if record is None:
                        continue
                    if record.type not in HANDLED_TYPES:
                        if record.type in WATCHED_TYPES and record.key is not None:
                            self.stops.note(record.type, record.key.decode(errors="replace"))
                        self.tracker.skipped(record.topic, record.partition, record.offset)
                        continue
                    await self.admitted.acquire()
                    self.tracker.started(record.topic, record.partition, record.offset)
                    task = asyncio.create_task(self._handle(record))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                if time.monotonic() - last_commit >= COMMIT_INTERVAL_S:
                    last_commit = time.monotonic()
                    batch = self.tracker.committable()
                    if batch:
                        with lock:
                            commits.append(batch)
            if self.failure is not None:
                raise self.failure
        finally:
            halt.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            while not inbox.empty():  # a consumer thread blocked handing a batch over gets out (the batch is dropped)
                inbox.get_nowait()
            final = self.tracker.committable()
            with lock:
                if final:
                    commits.append(final)
            last_offsets.set()
            await asyncio.to_thread(thread.join, 10)
            self.dead.close()

    def _fail(self, exc: BaseException) -> None:
        self.failure = exc
        self.stopping.set()

    async def _handle(self, record: Record) -> None:
        try:
            try:
                event = decode_event(record.value or b"")
                if isinstance(event, CallbackDue) and record.type == "CallbackDue":
                    await self.deliver_callback(event)
                elif isinstance(event, JobDue) and record.type == "JobDue":
                    await self.execute(event)
                elif isinstance(event, AlertDue) and record.type == "AlertDue":
                    await self.deliver_alert(event)
                else:
                    raise CodecError(f"a {event.type} event typed {record.type} by its header")
            except RECORD_FAULTS as exc:  # CodecError among them
                # Never skip a record silently: set it aside (acknowledged) before its offset can be committed.
                await self._set_aside(record, exc)
            self.tracker.finished(record.topic, record.partition, record.offset)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            # Not the record's fault: stop, and let the supervisor restart us from the last committed offset.
            self._fail(exc)
        finally:
            self.admitted.release()

    async def _set_aside(self, record: Record, error: BaseException) -> None:
        assert self.dead is not None
        await asyncio.to_thread(self.dead.set_aside, record, error, self.clock.now())

    async def execute(self, due: JobDue) -> None:
        wait = (due.due_at - self.clock.now()).total_seconds()
        if wait > 0:
            await asyncio.sleep(wait)
            # The loop's timers have millisecond granularity and woke up to 1.3 ms early (measured): never send
            # before due_at, so sleep out any remainder, rounded up past the granularity.
            rest = (due.due_at - self.clock.now()).total_seconds()
            if rest > 0:
                await asyncio.sleep(rest + 0.001)
        if await self._held_back(due):
            return
        keys = await self.signing.keys(due.tenant)
        # The queue's slot first, so a job waiting for its queue holds no send slot (its offset stays uncommitted).
        async with self.queues.for_job(due), self.slots.acquire(due.tenant, host_key(due.request.url)):
            if await self._held_back(due):  # stopped while it waited for its slots
                return
            started_at = self.clock.now()
            # Signed at the send: webhook-timestamp is this attempt's, however long the slots took.
            headers = signed_request_headers(due, keys, started_at)
            result = await self.sender.send(due.request, headers)
        await self.producer.publish(self.topics.events, [result_event(due, headers, result, started_at)])

    async def _held_back(self, due: JobDue) -> bool:
        """True when ``due`` must not be sent: its job was deleted or paused in the hand-over window (handover.py).
        Recorded as a ``JobRunCancelled``, which settles the run in the timer's entry (decision 0028)."""
        stop = self.stops.holds_back(due)
        if stop is None:
            return False
        log.info("not sending %s: its job was %s before it was sent", due.run_id, stop)
        cancelled = JobRunCancelled(
            event_id=deterministic_event_id("cancelled", due.run_id), job_id=due.job_id, tenant=due.tenant,
            occurred_at=self.clock.now(), run_id=due.run_id, reason=stop,
        )  # fmt: skip
        await self.producer.publish(self.topics.events, [cancelled])
        return True

    async def deliver_callback(self, due: CallbackDue) -> None:
        """POST a run's completion callback through the same sender (egress guard included) as jobs."""
        wait = (due.due_at - self.clock.now()).total_seconds()
        if wait > 0:
            # The timer hands a retry out its lead early; round past the loop's millisecond granularity.
            await asyncio.sleep(wait + 0.001)
        request = callback_request(due, self.settings.default_timeout_seconds)
        keys = await self.signing.keys(due.tenant)
        # A callback takes a slot like any request: fair across tenants, capped per host.
        async with self.slots.acquire(due.tenant, host_key(due.url)):
            started_at = self.clock.now()
            result = await self.sender.send(request, signed_callback_headers(due, keys, started_at))
        await self.producer.publish(self.topics.events, [callback_result_event(due, result, started_at)])

    async def deliver_alert(self, due: AlertDue) -> None:
        """POST an alert to the tenant's destination as it stands now, signed, through the same sender."""
        wait = (due.due_at - self.clock.now()).total_seconds()
        if wait > 0:
            await asyncio.sleep(wait + 0.001)
        destination = await self.alert_destinations.destination(due.tenant)
        if destination is None:
            await self.producer.publish(self.topics.events, [no_destination_event(due, self.clock.now())])
            return
        request = alert_request(due, destination, self.settings.default_timeout_seconds)
        keys = await self.signing.keys(due.tenant)
        async with self.slots.acquire(due.tenant, host_key(destination.url)):
            started_at = self.clock.now()
            headers = signed(alert_headers(due), keys, due.alert_id, request.body, started_at)
            result = await self.sender.send(request, headers)
        await self.producer.publish(
            self.topics.events, [alert_result_event(due, result, started_at, destination.format)]
        )


async def _main(settings: Settings, clock: Clock) -> None:
    ensure_topics(settings)
    producer = AsyncEventProducer(producer_config(settings, **{"linger.ms": RESULT_LINGER_MS}))
    sender = AiohttpSender(
        policy=EgressPolicy.from_setting(settings.egress_allow),
        resolver=SystemResolver(),
        body_limit=settings.response_body_limit,
        max_connections=settings.executor_concurrency,
    )
    engine = make_engine(settings.resolved_database_url)  # the database ingest and the projector use
    create_schema(engine)
    service = ExecutorService(
        settings,
        clock,
        sender,
        producer,
        queues=QueueGate(SqlSlotStore(engine), clock),
        signing=StoredSigningKeys(engine, clock.now),
        alert_destinations=DatabaseAlertDestinations(engine),
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, service.stopping.set)
    try:
        await service.run()
    finally:
        await sender.close()
        producer.close()
        engine.dispose()


def serve(settings: Settings, clock: Clock) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        pass
    asyncio.run(_main(settings, clock))
