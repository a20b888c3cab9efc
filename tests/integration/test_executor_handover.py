"""On the real broker: a job deleted in the hand-over window (its JobDue already with the executor, its due instant
still ahead) is never sent and no run is recorded for it; a delete the timer had not read yet when it fired (the
delete before the JobDue in the log) holds the attempt back too; a job beside them is sent at its due instant.

The executor runs in this process against the session broker, on a topic prefix of its own, and the test writes the
job log as the timer and ingest would: the JobDues handed out well ahead of their due instant (a lead large enough
that the deletes land inside it however loaded the machine is), then the deletes.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer

from chronohook.clock import SystemClock
from chronohook.kafka.config import consumer_config, producer_config
from chronohook.kafka.producer import AsyncEventProducer
from chronohook.kafka.records import record_of
from chronohook.kafka.topics import Topics, ensure_topics
from chronohook.outbound.egress import EgressPolicy
from chronohook.outbound.resolver import SystemResolver
from chronohook.outbound.sender import AiohttpSender
from chronohook.settings import Settings
from schemas import decode_event
from schemas.events import Envelope, HttpRequestSpec, JobDeleted, JobDue, JobFailed, JobSucceeded
from services.executor.service import ExecutorService
from tests.support.polling import eventually
from tests.support.receiver import ALLOWED_HOSTS, Receiver

LEAD = timedelta(seconds=2)  # how far ahead of the due instant the JobDues are handed out


class RunningExecutor:
    """The executor's own ``run()`` on its own loop and thread, with a real producer and sender; stopped on exit."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.service: ExecutorService | None = None
        self.error: BaseException | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="executor-under-test", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        producer = AsyncEventProducer(producer_config(self.settings))
        sender = AiohttpSender(
            policy=EgressPolicy.from_setting(self.settings.egress_allow), resolver=SystemResolver(), body_limit=4096
        )
        self.service = ExecutorService(self.settings, SystemClock(), sender, producer)
        self._started.set()
        try:
            await self.service.run()
        except BaseException as exc:  # surfaced by the test, not lost in the thread
            self.error = exc
        finally:
            await sender.close()
            producer.close()

    def __enter__(self) -> RunningExecutor:
        self._thread.start()
        assert self._started.wait(10), "the executor did not start"
        return self

    def __exit__(self, *_: object) -> None:
        assert self.service is not None
        self.loop.call_soon_threadsafe(self.service.stopping.set)
        self._thread.join(20)
        self.loop.close()


@pytest.fixture
def settings(kafka_bootstrap: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=f"handover-{secrets.token_hex(4)}",
        partitions=3,
        egress_allow=",".join(f"{host}/32" for host in ALLOWED_HOSTS),
    )


@pytest.fixture
def executor(settings: Settings) -> Iterator[RunningExecutor]:
    ensure_topics(settings)
    with RunningExecutor(settings) as running:
        yield running


def due(job_id: str, at: datetime, url: str) -> JobDue:
    return JobDue(
        event_id=f"due_{job_id}",
        job_id=job_id,
        tenant="tenant-a",
        occurred_at=at - LEAD,
        run_id=f"{job_id}:{int(at.timestamp() * 1000)}:1",
        due_at=at,
        request=HttpRequestSpec(method="POST", url=url, body='{"k":1}'),
        next_run_at=at + timedelta(minutes=1),
    )


def deleted(job_id: str) -> JobDeleted:
    return JobDeleted(event_id=f"del_{job_id}", job_id=job_id, tenant="tenant-a", occurred_at=datetime.now(UTC))


class JobLog:
    """Appends events to the job log as ingest and the timer do (keyed by job id, type header), with one producer
    made up front: a producer's first append waits for its idempotence id, which can take seconds on a busy broker.
    """

    def __init__(self, settings: Settings) -> None:
        self.topic = Topics.from_settings(settings).events
        self.producer = Producer(producer_config(settings))

    def append(self, events: list[Envelope]) -> None:
        for event in events:
            key, value, headers = record_of(event)
            self.producer.produce(self.topic, value, key=key, headers=headers)
        assert self.producer.flush(10) == 0, "the broker did not take the events within 10 s"


@pytest.fixture
def job_log(settings: Settings) -> Iterator[JobLog]:
    log = JobLog(settings)
    yield log
    log.producer.flush(10)


def results_by_job(settings: Settings) -> dict[str, list[str]]:
    """Every run result in the job log, by job: what the projector folds into runs."""
    consumer = Consumer(consumer_config(settings, f"reader-{secrets.token_hex(4)}", **{"enable.partition.eof": True}))
    found: dict[str, list[str]] = {}
    try:
        consumer.subscribe([Topics.from_settings(settings).events])
        at_end: set[int] = set()
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while len(at_end) < settings.partitions and datetime.now(UTC) < deadline:  # bounded: to the log's end
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                assert error.code() == KafkaError._PARTITION_EOF, error
                at_end.add(msg.partition() or 0)
                continue
            event = decode_event(msg.value() or b"")
            if isinstance(event, JobSucceeded | JobFailed):
                found.setdefault(event.job_id, []).append(event.type)
    finally:
        consumer.close()
    return found


def test_jobs_deleted_in_the_hand_over_window_are_not_sent(
    settings: Settings, executor: RunningExecutor, job_log: JobLog, receiver: Receiver
) -> None:
    tag = secrets.token_hex(4)
    # Given an executor that has its partitions: a job due now went all the way through
    job_log.append([due(f"warm-{tag}", datetime.now(UTC), receiver.url(f"/handover/{tag}/warm"))])
    receiver.wait_for(lambda r: r.path == f"/handover/{tag}/warm", timeout=30)
    at = datetime.now(UTC) + LEAD
    url = {name: receiver.url(f"/handover/{tag}/{name}") for name in ("kept", "deleted-after", "deleted-before")}

    # And a delete the timer had not read when it fired: in the log before that job's JobDue
    job_log.append([deleted(f"before-{tag}")])
    # And three attempts handed to the executor 2 s before their common due instant
    job_log.append(
        [
            due(f"kept-{tag}", at, url["kept"]),
            due(f"after-{tag}", at, url["deleted-after"]),
            due(f"before-{tag}", at, url["deleted-before"]),
        ],
    )
    service = executor.service
    assert service is not None
    eventually(lambda: service.tracker.in_flight() == 3, timeout=10, what="the executor holding the three attempts")

    # When one job is deleted while its attempt waits out the lead
    job_log.append([deleted(f"after-{tag}")])
    assert datetime.now(UTC) < at - LEAD / 2, "the delete was not appended well inside the window: no verdict"

    # Then the kept job arrives, at or after its due instant
    [arrival] = receiver.wait_for(lambda r: r.path == f"/handover/{tag}/kept", timeout=15)
    assert arrival.at >= at.timestamp()
    # And once the executor has nothing left in flight, neither deleted job was ever sent
    eventually(lambda: service.tracker.in_flight() == 0, timeout=10, what="every attempt settled")
    assert receiver.matching(lambda r: r.path.startswith(f"/handover/{tag}/deleted")) == []
    # And the log holds a run result for the kept job only: no run is recorded for a deleted one
    results = results_by_job(settings)
    assert results == {f"warm-{tag}": ["JobSucceeded"], f"kept-{tag}": ["JobSucceeded"]}
    assert executor.error is None and service.failure is None
