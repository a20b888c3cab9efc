"""Cancellation in the hand-over window: a due job the timer handed out early is not sent once its job was deleted
(or purged), or, for an occurrence of a schedule, paused and not resumed, by the time it would be sent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chronohook.clock import Clock, FixedClock
from chronohook.outbound.sender import SendResult
from chronohook.settings import Settings
from schemas.events import HttpRequestSpec, JobDue, JobRunCancelled, JobSucceeded
from services.executor.handover import JobStops
from services.executor.service import ExecutorService
from tests.support.fakes import ListProducer

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
JOB = "qj_1"


def due(at: datetime = T0, *, recurring: bool = True, job_id: str = JOB) -> JobDue:
    return JobDue(
        event_id=f"evt_{job_id}",
        job_id=job_id,
        tenant="t1",
        occurred_at=at - timedelta(milliseconds=250),
        run_id=f"{job_id}:{int(at.timestamp() * 1000)}:1",
        due_at=at,
        request=HttpRequestSpec(method="POST", url="http://127.0.0.2:9/hook"),
        next_run_at=at + timedelta(minutes=1) if recurring else None,
    )


# -- handover.py: which stops hold an attempt back ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("read", "recurring", "held"),
    [
        ([], True, None),
        (["JobDeleted"], True, "deleted"),
        (["JobDeleted"], False, "deleted"),
        (["JobPurged"], False, "deleted"),
        (["JobPaused"], True, "paused"),
        # A one-off's only occurrence is sent: nothing would fire it again on resume.
        (["JobPaused"], False, None),
        (["JobPaused", "JobResumed"], True, None),
        (["JobPaused", "JobResumed", "JobPaused"], True, "paused"),
        # A deleted job stays deleted, whatever is read after.
        (["JobDeleted", "JobResumed"], True, "deleted"),
        (["JobPaused", "JobDeleted", "JobPaused"], True, "deleted"),
        # Other records change nothing.
        (["JobUpdated", "JobSucceeded", "JobDue"], True, None),
    ],
)
def test_the_stops_read_decide_whether_an_attempt_is_held_back(
    read: list[str], recurring: bool, held: str | None
) -> None:
    # Given the records read from the job log for the job, in log order
    stops = JobStops()
    for record_type in read:
        stops.note(record_type, JOB)

    # When its attempt comes to be sent
    why = stops.holds_back(due(recurring=recurring))

    # Then it is held back for the expected reason, or sent
    assert why == held


def test_another_jobs_stop_holds_nothing_back() -> None:
    # Given a delete of another job
    stops = JobStops()
    stops.note("JobDeleted", "qj_2")

    # When this job's attempt comes to be sent
    # Then it is sent
    assert stops.holds_back(due()) is None


def test_the_stops_remembered_are_bounded_and_the_oldest_go_first() -> None:
    # Given room for two stops and three jobs deleted
    stops = JobStops(capacity=2)
    for job_id in ("a", "b", "c"):
        stops.note("JobDeleted", job_id)

    # When their attempts come to be sent
    held = [stops.holds_back(due(job_id=job_id)) for job_id in ("a", "b", "c")]

    # Then the oldest stop was forgotten and the two newest hold theirs back
    assert held == [None, "deleted", "deleted"] and len(stops) == 2


# -- service.py: a stop read while the attempt waits out the lead --------------------------------------------------
class LoopClock:
    """T0 at the start, then moving with the event loop's clock: the executor's waits are real, and short."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.origin: float | None = None

    def now(self) -> datetime:
        loop_now = asyncio.get_running_loop().time()
        if self.origin is None:
            self.origin = loop_now
        return self.start + timedelta(seconds=loop_now - self.origin)


class Sender:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, request: HttpRequestSpec, _headers: dict[str, str]) -> SendResult:
        self.sent.append(request.url)
        return SendResult(started_at_monotonic=0.0, duration_ms=1.0, status=200, headers={}, body="ok")

    async def close(self) -> None:
        return None


def cancelled(producer: ListProducer) -> list[tuple[str, str, str]]:
    """The JobRunCancelled events published, as (job id, run id, reason); fails on any other event."""
    assert all(isinstance(e, JobRunCancelled) for e in producer.events), producer.events
    return [(e.job_id, e.run_id, e.reason) for e in producer.events if isinstance(e, JobRunCancelled)]


def executor(tmp_path: Path, clock: Clock) -> tuple[ExecutorService, Sender, ListProducer]:
    sender, producer = Sender(), ListProducer()
    service = ExecutorService(Settings(data_dir=tmp_path), clock, sender, producer)  # type: ignore[arg-type]
    return service, sender, producer


async def stopped_while_waiting(service: ExecutorService, job: JobDue, read: list[str]) -> None:
    """Hand ``job`` over, let it start waiting out its lead, then read ``read`` for its job as the consumer would."""
    task = asyncio.create_task(service.execute(job))
    await asyncio.sleep(0)  # the task starts, and waits for its due instant
    for record_type in read:
        service.stops.note(record_type, job.job_id)
    await asyncio.wait_for(task, timeout=5)


def test_a_job_deleted_while_it_waits_out_the_lead_is_not_sent(tmp_path: Path) -> None:
    # Given a job handed over 50 ms before its due instant
    clock = LoopClock(T0 - timedelta(milliseconds=50))
    service, sender, producer = executor(tmp_path, clock)

    # When its delete is read while it waits
    asyncio.run(stopped_while_waiting(service, due(), ["JobDeleted"]))

    # Then nothing was sent and no run was recorded: only its cancellation, which settles it in the timer's entry
    assert sender.sent == [] and cancelled(producer) == [(JOB, due().run_id, "deleted")]
    assert service.failure is None


def test_a_schedule_paused_and_resumed_before_its_due_instant_is_sent(tmp_path: Path) -> None:
    # Given a cron's occurrence handed over 50 ms before its due instant
    clock = LoopClock(T0 - timedelta(milliseconds=50))
    service, sender, producer = executor(tmp_path, clock)

    # When a pause and then a resume are read while it waits
    asyncio.run(stopped_while_waiting(service, due(), ["JobPaused", "JobResumed"]))

    # Then it was sent, at its due instant, and its run recorded
    assert sender.sent == ["http://127.0.0.2:9/hook"]
    [result] = producer.events
    assert isinstance(result, JobSucceeded) and result.outcome.started_at >= T0


def test_a_stop_read_before_the_job_was_handed_over_holds_it_back(tmp_path: Path) -> None:
    # Given a delete read first (the timer fired before it read the delete, so its JobDue came after it in the log)
    service, sender, producer = executor(tmp_path, FixedClock(T0))
    service.stops.note("JobDeleted", JOB)

    # When the attempt, due now, is handled
    asyncio.run(service.execute(due()))

    # Then nothing was sent, and only its cancellation recorded
    assert sender.sent == [] and cancelled(producer) == [(JOB, due().run_id, "deleted")]


def test_a_paused_cron_is_held_back_but_a_paused_one_off_is_sent(tmp_path: Path) -> None:
    # Given two jobs paused before their attempts, due now, are sent: a cron's occurrence and a one-off's
    service, sender, producer = executor(tmp_path, FixedClock(T0))
    service.stops.note("JobPaused", "cron")
    service.stops.note("JobPaused", "once")

    # When both are handled
    async def main() -> None:
        await service.execute(due(job_id="cron", recurring=True))
        await service.execute(due(job_id="once", recurring=False))

    asyncio.run(main())

    # Then only the one-off was sent: the timer has handed out its only occurrence; the cron's was cancelled
    assert len(sender.sent) == 1
    cancel, result = producer.events
    assert result.job_id == "once" and isinstance(result, JobSucceeded)
    assert isinstance(cancel, JobRunCancelled) and (cancel.job_id, cancel.reason) == ("cron", "paused")
