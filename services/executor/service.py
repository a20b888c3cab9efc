"""The executor's shell. At-least-once: a result is produced before its offset is committed.

A consumer thread feeds an asyncio loop; each due job waits out the timer's lead, is sent, and its result
is appended to the results topic; offsets are committed below the oldest job still in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Coroutine
from functools import partial
from typing import Any

from confluent_kafka import Message, TopicPartition

from chronohook.clock import Clock
from chronohook.collector import fewer_collections
from chronohook.heartbeats import Pulse, PulsingAsyncEvent
from chronohook.ids import deterministic_event_id
from chronohook.kafka.config import producer_config
from chronohook.kafka.dead_records import DeadRecordSink
from chronohook.kafka.producer import AsyncEventProducer
from chronohook.kafka.records import Record, read_record
from chronohook.kafka.topics import Topics, ensure_topics
from chronohook.metrics import QueueLabels, observed
from chronohook.outbound.egress import EgressPolicy
from chronohook.outbound.resolver import SystemResolver
from chronohook.outbound.sender import AiohttpSender, HttpSender
from chronohook.outbound.signing import InMemorySigningKeys, SigningKeysSource, signed
from chronohook.readmodel.alerts import DatabaseAlertDestinations
from chronohook.sealing import KeyRing, SealError, settings_ring
from chronohook.settings import Settings
from chronohook.store.engine import create_schema, make_engine
from chronohook.store.queue_slots import MemorySlotStore, SqlSlotStore
from chronohook.store.signing_secrets import StoredSigningKeys
from schemas import CodecError, decode_event
from schemas.events import AlertDue, CallbackDue, JobDue, JobRunCancelled
from services.executor import metrics as executor_metrics
from services.executor.admission import Backlog, default_reserve
from services.executor.alerts import (
    DestinationSource,
    NoDestinations,
    alert_headers,
    alert_request,
    alert_result_event,
    no_destination_event,
)
from services.executor.callbacks import callback_request, callback_result_event, signed_callback_headers
from services.executor.fairness import FairSlots, Lease, host_key
from services.executor.handover import WATCHED_TYPES, JobStops
from services.executor.intake import ConsumerThread, IntakeFactory
from services.executor.metrics import RunMetrics
from services.executor.offsets import OffsetTracker
from services.executor.outcome_log import delivered
from services.executor.queue_gate import QueueGate, queue_key
from services.executor.runs import result_event, signed_request_headers
from services.executor.secrets import opened, unopened
from services.executor.tracing import handling, traced

log = logging.getLogger("chronohook.executor")
GROUP = "executor"  # the role: the group id is <prefix>.executor (chronohook/kafka/groups.py)
# The records the executor acts on (a job's attempt, a callback's attempt); it skips others by their type header.
HANDLED_TYPES = frozenset({"JobDue", "CallbackDue", "AlertDue"})
# Its name on the records it sets aside.
CONSUMER_NAME = "executor"
# Results wait up to 25 ms to share a produce request (5 ms before): nothing waits for a result but its offset's
# commit, and fuller batches halved the producer's CPU and cut the broker's per record 2-3 fold (decision 0027).
RESULT_LINGER_MS = 25
# Offsets are committed at most this often (they were committed after every batch handed over, up to ~200 a
# second): a commit is a broker write, and one lost or late only means jobs sent again, as at-least-once allows.
COMMIT_INTERVAL_S = 0.2
# What a record can make handling it raise, once decoded: its own fault (a value no model or encoder takes), so it
# is set aside. Anything else (the broker not taking a result: PublishFailed) stops the executor, to be restarted.
RECORD_FAULTS = (ValueError, TypeError, ArithmeticError)
Due = JobDue | CallbackDue | AlertDue


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
        intake: IntakeFactory = ConsumerThread,
        secrets: KeyRing | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.sender = sender
        self.producer = producer
        self.topics = Topics.from_settings(settings)
        self.tracker = OffsetTracker()
        # Attempts in flight, admitted fairly across tenants and capped per host (admission.py, decision 0029); and
        # the due records taken in and not finished (most waiting out the timer's lead), bounded in count and bytes.
        self.slots = FairSlots(settings.executor_concurrency, settings.host_concurrency)
        self.backlog = Backlog(settings.executor_max_parked, settings.executor_max_parked_bytes)
        self.drained = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()
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
        # Where due records come from: the job log's consumer thread (a fake in tests).
        self.intake = intake
        self.run_metrics = RunMetrics(QueueLabels.from_settings(settings))  # (metrics.py, decision 0042)
        # Opens sealed request headers just before a send (decision 0044); _main requires a key.
        self.secrets = secrets if secrets is not None else settings_ring(settings)

    async def run(self) -> None:
        if self.dead is None:
            self.dead = DeadRecordSink(producer_config(self.settings), self.topics.dead_records, CONSUMER_NAME)
        last_commit = time.monotonic()

        def on_revoke(_consumer: Any, partitions: list[TopicPartition]) -> None:
            for tp in partitions:
                self.tracker.forget(tp.topic, tp.partition)

        intake = self.intake(self.settings, GROUP, self.topics.events, on_revoke, self._fail)
        intake.start()
        log.info("executor started")
        try:
            while not self.stopping.is_set():
                # Nothing here awaits a slot: records are parked for admission, so deletes and pauses are read at
                # once; only a full backlog (count or bytes) stops the reading, until it drains.
                msgs = await self._room() if self.backlog.full() else await intake.get(0.1)
                for msg in msgs:
                    record = read_record(msg)
                    if record is None:
                        continue
                    if record.type not in HANDLED_TYPES:
                        if record.type in WATCHED_TYPES and record.key is not None:
                            self.stops.note(record.type, record.key.decode(errors="replace"))
                        self.tracker.skipped(record.topic, record.partition, record.offset)
                        continue
                    self.tracker.started(record.topic, record.partition, record.offset)
                    self._take(record)
                if time.monotonic() - last_commit >= COMMIT_INTERVAL_S:
                    last_commit = time.monotonic()
                    intake.commit(self.tracker.committable())
            if self.failure is not None:
                raise self.failure
        finally:
            self.stopping.set()
            tasks = list(self.tasks)  # parked attempts are dropped unstarted (stopping is set): never sent
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await intake.stop(self.tracker.committable())
            self.dead.close()

    def _fail(self, exc: BaseException) -> None:
        self.failure = exc
        self.stopping.set()

    async def _room(self) -> list[Message]:
        """Back-pressure: wait (at most 0.1 s, so the loop still commits and sees a stop) for the backlog to drain."""
        self.drained.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drained.wait(), timeout=0.1)
        return []

    def _take(self, record: Record) -> None:
        """A due record, its offset in flight: parked for admission from its due instant, with no task until then.

        A job of a bounded queue (it waits for its queue's slot first, decision 0017) and an alert (its host is read
        at send time) get a task at once instead; it waits without holding a slot (``FairSlots.acquire``)."""
        self.backlog.add(len(record.value or b""))
        try:
            due = _decoded(record)
        except RECORD_FAULTS:
            self._spawn(self._handle(record))  # decoded again there, and set aside
            return
        self.run_metrics.took(due)
        # JobDue first: isinstance with a pydantic class is quick when it matches, ~5 us through its metaclass when not.
        if isinstance(due, JobDue) and queue_key(due) is None:
            host, urgent = host_key(due.request.url), False
        elif isinstance(due, CallbackDue):
            host, urgent = host_key(due.url), True
        else:
            self._spawn(self._handle(record, due))
            return
        # Parked as its record alone, decoded again when it starts (~5 us): the decoded event would double what a
        # parked attempt holds in RAM, and the objects every garbage collection walks.
        park = partial(self.slots.park, due.tenant, host, partial(self._start, record), urgent)
        wait = (due.due_at - self.clock.now()).total_seconds()
        if wait > 0:
            asyncio.get_running_loop().call_later(wait, park)
        else:
            park()

    def _start(self, record: Record, lease: Lease) -> bool:
        if self.stopping.is_set():
            return False
        self._spawn(self._handle(record, None, lease))
        return True

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _handle(self, record: Record, due: Due | None = None, lease: Lease | None = None) -> None:
        try:
            try:
                if due is None:
                    due = _decoded(record)
                with handling(record):  # its span, child of its record's trace (decision 0043)
                    if isinstance(due, JobDue):
                        await self.execute(due, lease)
                    elif isinstance(due, CallbackDue):
                        await self.deliver_callback(due, lease)
                    else:
                        await self.deliver_alert(due)
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
            if lease is not None:
                lease.release()
            self.backlog.remove(len(record.value or b""))
            if not self.backlog.full():
                self.drained.set()

    async def _set_aside(self, record: Record, error: BaseException) -> None:
        assert self.dead is not None
        await asyncio.to_thread(self.dead.set_aside, record, error, self.clock.now())

    async def execute(self, due: JobDue, lease: Lease | None = None) -> None:
        """Send ``due`` at its instant. ``lease``: its slot, when admission already granted it (run() parks an
        attempt and starts it once admitted); without one, it waits for its queue's slot and then for a slot."""
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
        async with self.queues.for_job(due), lease or self.slots.acquire(due.tenant, host_key(due.request.url)):
            if await self._held_back(due):  # stopped while it waited for its slots
                return
            started_at = self.clock.now()
            # Signed at the send: webhook-timestamp is this attempt's, however long the slots took.
            headers = signed_request_headers(due, keys, started_at)
            try:  # sealed headers opened just before the send; the run records them sealed (decision 0044)
                result = await self.sender.send(*opened(self.secrets, due.request, headers, due.tenant))
            except SealError as exc:
                result = unopened(exc)
        delivered(self.settings, due, result, started_at)
        self.run_metrics.ran(due, result, started_at)
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

    async def deliver_callback(self, due: CallbackDue, lease: Lease | None = None) -> None:
        """POST a run's completion callback through the same sender (egress guard included) as jobs."""
        wait = (due.due_at - self.clock.now()).total_seconds()
        if wait > 0:
            # The timer hands a retry out its lead early; round past the loop's millisecond granularity.
            await asyncio.sleep(wait + 0.001)
        request = callback_request(due, self.settings.default_timeout_seconds)
        keys = await self.signing.keys(due.tenant)
        # A callback takes a slot like any request: capped per host, within its tenant's share, but urgent: asked
        # before any tenant's jobs (decision 0029).
        async with lease or self.slots.acquire(due.tenant, host_key(due.url), urgent=True):
            started_at = self.clock.now()
            result = await self.sender.send(request, signed_callback_headers(due, keys, started_at))
        delivered(self.settings, due, result, started_at)
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
        async with self.slots.acquire(due.tenant, host_key(destination.url), urgent=True):
            started_at = self.clock.now()
            headers = signed(alert_headers(due), keys, due.alert_id, request.body, started_at)
            result = await self.sender.send(request, headers)
        delivered(self.settings, due, result, started_at)
        await self.producer.publish(
            self.topics.events, [alert_result_event(due, result, started_at, destination.format)]
        )


def _decoded(record: Record) -> Due:
    """The due event a record holds, or CodecError when it holds none or another than its type header says."""
    event = decode_event(record.value or b"")
    if isinstance(event, (JobDue, CallbackDue, AlertDue)) and record.type == event.type:
        return event
    raise CodecError(f"a {event.type} event typed {record.type} by its header")


async def _main(settings: Settings, clock: Clock) -> None:
    secrets = settings_ring(settings, "executor")  # no key: refused before anything starts
    ensure_topics(settings)
    producer = AsyncEventProducer(producer_config(settings, **{"linger.ms": RESULT_LINGER_MS}))
    sender: HttpSender = AiohttpSender(  # wrapped in client spans when tracing is on (below)
        policy=EgressPolicy.from_setting(settings.egress_allow),
        resolver=SystemResolver(),
        body_limit=settings.response_body_limit,
        # The shared capacity and the reserve beyond it for light tenants (decision 0029).
        max_connections=settings.executor_concurrency + default_reserve(settings.executor_concurrency),
    )
    sender = traced(sender)
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
        secrets=secrets,
    )
    pulse = Pulse()
    service.stopping = PulsingAsyncEvent(pulse)  # asked once per loop turn: the heartbeat's pulse
    executor_metrics.register(service)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, service.stopping.set)
    try:
        with observed(settings, "executor", pulse):
            await service.run()
    finally:
        await sender.close()
        producer.close()
        engine.dispose()


def serve(settings: Settings, clock: Clock) -> None:
    # The executor holds every due record it took until it finishes (up to executor_max_parked), and each young
    # collection walked them: ~15-20% of its CPU per delivery in a burst (decision 0029).
    fewer_collections()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        pass
    asyncio.run(_main(settings, clock))
