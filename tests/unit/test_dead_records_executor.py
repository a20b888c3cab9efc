"""The executor: a failure to record one job is a failed run of that job, and a record it cannot handle is set
aside; neither stops the service."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from chronohook.clock import FixedClock
from chronohook.errors import PublishFailed
from chronohook.kafka.records import Record, record_of
from chronohook.outbound.sender import SendResult
from chronohook.settings import Settings
from schemas import CodecError, encode_event
from schemas.events import HttpRequestSpec, JobDue, JobFailed, JobSucceeded
from schemas.topics import MAX_EVENT_BYTES
from services.executor.runs import recordable, request_headers, result_event, unrecordable
from services.executor.service import ExecutorService
from tests.support.fakes import ListProducer

T0 = datetime(2026, 4, 10, 14, 5, 30, tzinfo=UTC)


def due(body: str | None = '{"a":1}') -> JobDue:
    return JobDue(
        event_id="evt_due",
        job_id="rj_847",
        tenant="t1",
        occurred_at=T0,
        run_id="rj_847:1:1",
        due_at=T0,
        request=HttpRequestSpec(method="POST", url="http://127.0.0.2:9/hook", body=body),
    )


def answered(headers: dict[str, str] | None = None, body: str | None = "ok", status: int = 200) -> SendResult:
    return SendResult(started_at_monotonic=0.0, duration_ms=3.0, status=status, headers=headers or {}, body=body)


# -- runs.py: the result event can always be recorded -------------------------------------------------------------
def test_an_ordinary_result_is_left_as_it_is() -> None:
    # Given a plain 200
    job = due()
    # When its result event is made
    event = result_event(job, request_headers(job), answered({"Server": "x"}), T0)
    # Then it is the success, untouched
    assert isinstance(event, JobSucceeded) and event.outcome.response_headers == {"Server": "x"}
    assert unrecordable(event) is None


def test_a_response_that_cannot_be_encoded_becomes_a_failed_run_without_it() -> None:
    # Given an answer whose header value holds a lone surrogate (bytes that were not valid text, escaped)
    job = due()
    result = answered({"X-Bad": "caf\udce9"}, body="fine")

    # When its result event is made
    event = result_event(job, request_headers(job), result, T0)

    # Then the run failed, its response dropped, with a reason and a message saying why; and it encodes
    assert isinstance(event, JobFailed)
    assert event.failure_reason == "unknown"
    assert event.error_message is not None and "could not be encoded" in event.error_message
    assert event.outcome.response_headers == {} and event.outcome.response_body is None
    assert event.outcome.response_truncated is True
    assert event.outcome.response_status == 200 and event.outcome.run_id == job.run_id
    assert unrecordable(event) is None
    encode_event(event)


def test_a_result_over_the_event_limit_becomes_a_limit_exceeded_failure() -> None:
    # Given a request body near the limit and a response that takes it over
    job = due(body="b" * (MAX_EVENT_BYTES - 10_000))
    result = answered(body="r" * 20_000)

    # When its result event is made
    event = result_event(job, request_headers(job), result, T0)

    # Then the run failed as limit_exceeded, the response dropped, the request kept; it fits
    assert isinstance(event, JobFailed) and event.failure_reason == "limit_exceeded"
    assert event.outcome.response_body is None and event.outcome.request_body == job.request.body
    assert len(encode_event(event)) <= MAX_EVENT_BYTES


def test_when_the_request_alone_is_too_large_it_is_dropped_too() -> None:
    # Given a result whose request part is already over the limit (a JobDue from before the limit, say)
    job = due(body="b" * (MAX_EVENT_BYTES + 1))
    oversized = result_event(job, request_headers(job), answered(), T0)

    # When it is made recordable
    event = recordable(oversized)

    # Then the request and the response are both dropped, and the message says so
    assert isinstance(event, JobFailed) and event.failure_reason == "limit_exceeded"
    assert event.outcome.request_body is None and event.outcome.request_headers == {}
    assert event.error_message is not None and "request and response were dropped" in event.error_message
    assert unrecordable(event) is None


def test_ascii_that_escapes_past_the_limit_is_caught() -> None:
    # Given an answer of control characters: short as text, six times longer as JSON
    job = due(body=None)
    result = answered(body="\x01" * (MAX_EVENT_BYTES // 5))

    # When its result event is made
    event = result_event(job, request_headers(job), result, T0)

    # Then it is measured as encoded, and recorded as a limit_exceeded failure that fits
    assert isinstance(event, JobFailed) and event.failure_reason == "limit_exceeded"
    assert len(encode_event(event)) <= MAX_EVENT_BYTES


# -- service.py: records it cannot handle are set aside --------------------------------------------------------------
class Sink:
    def __init__(self) -> None:
        self.aside: list[tuple[Record, BaseException | str]] = []

    def set_aside(self, record: Record, error: BaseException | str, _at: datetime) -> None:
        self.aside.append((record, error))

    def close(self) -> None:
        return None


class Sender:
    def __init__(self, result: SendResult) -> None:
        self.result = result

    async def send(self, _request: HttpRequestSpec, _headers: dict[str, str]) -> SendResult:
        return self.result

    async def close(self) -> None:
        return None


def executor(tmp_path: Path, result: SendResult | None = None, fail: bool = False) -> tuple[ExecutorService, Sink]:
    sink = Sink()
    service = ExecutorService(
        Settings(data_dir=tmp_path),
        FixedClock(T0),
        Sender(result or answered()),
        ListProducer(fail),  # type: ignore[arg-type]
        dead=sink,  # type: ignore[arg-type]
    )
    return service, sink


def record(offset: int, value: bytes | None, type_: str = "JobDue") -> Record:
    return Record("p.job-events", 1, offset, b"rj_847", value, type_, (("type", type_.encode()),))


async def handled(service: ExecutorService, rec: Record) -> None:
    service.tracker.started(rec.topic, rec.partition, rec.offset)
    await service._handle(rec)


def test_undecodable_and_mistyped_records_are_set_aside_and_their_offsets_released(tmp_path: Path) -> None:
    # Given garbage typed JobDue, and a valid event of another type typed JobDue
    service, sink = executor(tmp_path)
    _, other, _ = record_of(result_event(due(), request_headers(due()), answered(), T0))
    records = [record(5, b"\xff garbage"), record(6, other)]

    # When the executor handles them
    async def main() -> None:
        for rec in records:
            await handled(service, rec)

    asyncio.run(main())

    # Then both are set aside as codec errors, the service did not fail, and their offsets may be committed
    assert [r.offset for r, _ in sink.aside] == [5, 6]
    assert all(isinstance(error, CodecError) for _, error in sink.aside)
    assert service.failure is None
    assert service.tracker.committable() == [("p.job-events", 1, 7)]


def test_an_unrecordable_answer_is_published_as_a_failed_run(tmp_path: Path) -> None:
    # Given a target whose answer holds text that cannot be encoded
    service, sink = executor(tmp_path, answered({"X-Bad": "\udcff"}))
    _, value, _ = record_of(due())

    # When the due job is handled
    asyncio.run(handled(service, record(9, value)))

    # Then a failed run is published, nothing set aside, nothing failed
    [event] = service.producer.events  # type: ignore[attr-defined]
    assert isinstance(event, JobFailed) and event.failure_reason == "unknown"
    assert sink.aside == [] and service.failure is None


def test_a_broker_that_takes_no_result_still_stops_the_executor(tmp_path: Path) -> None:
    # Given a broker that refuses every result
    service, sink = executor(tmp_path, fail=True)
    _, value, _ = record_of(due())

    # When a due job is handled
    asyncio.run(handled(service, record(3, value)))

    # Then the executor stops (to be restarted from its committed offset); the job is not blamed
    assert isinstance(service.failure, PublishFailed)
    assert sink.aside == []
    assert service.tracker.committable() == [("p.job-events", 1, 3)]
