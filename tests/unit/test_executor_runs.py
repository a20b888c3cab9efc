"""The executor's pure parts: the headers put on the wire and the result event of a run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import aiohttp
import pytest

from chronohook.outbound.sender import SendResult, classify_exception, classify_status
from schemas.events import FailureReason, HttpRequestSpec, JobDue, JobFailed, JobSucceeded, SuccessAssertion
from services.executor.runs import USER_AGENT, request_headers, result_event

T0 = datetime(2026, 4, 10, 14, 5, 30, tzinfo=UTC)
AssertionType = Literal["status_code_equals", "response_time_under_ms", "body_contains"]


def due(body: str | None = '{"a":1}', headers: dict[str, str] | None = None, attempt: int = 2) -> JobDue:
    return JobDue(
        event_id="evt_due",
        job_id="rj_847",
        tenant="t1",
        occurred_at=T0,
        run_id=f"rj_847:1:{attempt}",
        due_at=T0,
        attempt=attempt,
        request=HttpRequestSpec(method="POST", url="https://example.com/hook", headers=headers or {}, body=body),
        callback_url="https://example.com/cb",
    )


def sent(status: int | None, reason: FailureReason | None = None, message: str | None = None) -> SendResult:
    return SendResult(
        started_at_monotonic=0.0,
        duration_ms=12.5,
        status=status,
        headers={"Server": "x"} if status else {},
        body="response" if status else None,
        failure_reason=classify_status(status) if status is not None else reason,
        error_message=message if status is None else (None if 200 <= status < 300 else f"HTTP {status}"),
    )


# -- request headers ---------------------------------------------------------------------------------------------
def test_request_headers_add_run_id_attempt_and_keep_user_headers() -> None:
    # Given a due job with user headers
    job = due(headers={"X-Custom-Header": "value", "Authorization": "Bearer abc"})

    # When the wire headers are built
    headers = request_headers(job)

    # Then the user's headers are kept, and ours carry the run id and attempt
    assert headers["X-Custom-Header"] == "value"
    assert headers["Authorization"] == "Bearer abc"
    assert headers["X-Chronohook-Run-Id"] == "rj_847:1:2"
    assert headers["X-Chronohook-Attempt"] == "2"
    assert headers["User-Agent"] == USER_AGENT
    assert headers["Content-Type"] == "application/json"


def test_user_headers_win_except_the_run_id_and_attempt() -> None:
    # Given user headers that collide with ours
    job = due(headers={"User-Agent": "mine/1", "Content-Type": "application/xml", "X-Chronohook-Run-Id": "forged"})
    # When the wire headers are built
    headers = request_headers(job)
    # Then the user's User-Agent and Content-Type win, but the run id cannot be forged
    assert headers["User-Agent"] == "mine/1"
    assert headers["Content-Type"] == "application/xml"
    assert headers["X-Chronohook-Run-Id"] == "rj_847:1:2"


def test_content_type_follows_the_body() -> None:
    # Given bodies of different shapes
    # Then JSON-looking bodies are sent as JSON, others as text, and no body has no content type
    assert request_headers(due(body="[1,2]"))["Content-Type"] == "application/json"
    assert request_headers(due(body="hello"))["Content-Type"] == "text/plain"
    assert "Content-Type" not in request_headers(due(body=None))


# -- result events -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_2xx_is_a_job_succeeded(status: int) -> None:
    # Given a due job and a 2xx answer
    job = due()
    headers = request_headers(job)

    # When the result event is built
    event = result_event(job, headers, sent(status), T0)

    # Then it is a JobSucceeded carrying the run's facts
    assert isinstance(event, JobSucceeded)
    o = event.outcome
    assert (o.run_id, o.attempt, o.due_at, o.response_status) == ("rj_847:1:2", 2, T0, status)
    assert o.started_at == T0
    assert o.finished_at == event.occurred_at == T0 + timedelta(milliseconds=12.5)
    assert o.duration_ms == 12.5
    assert o.request_headers == headers
    assert o.request_body == '{"a":1}'
    assert o.response_body == "response"
    assert o.callback_url == "https://example.com/cb"
    assert (event.job_id, event.tenant) == ("rj_847", "t1")


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, "http_client_error"),
        (404, "http_client_error"),
        (429, "http_client_error"),
        (500, "http_server_error"),
        (503, "http_server_error"),
        (302, "unknown"),
    ],
)
def test_non_2xx_is_a_job_failed_with_the_recuro_reason(status: int, reason: str) -> None:
    # Given a due job and a non-2xx answer
    job = due()
    # When the result event is built
    event = result_event(job, request_headers(job), sent(status), T0)
    # Then it is a JobFailed with the matching failure_reason and the status kept
    assert isinstance(event, JobFailed)
    assert event.failure_reason == reason
    assert event.outcome.response_status == status
    assert event.error_message == f"HTTP {status}"


@pytest.mark.parametrize("reason", ["connection_error", "timeout", "dns_error", "ssl_error", "invalid_url"])
def test_transport_errors_are_a_job_failed_without_status(reason: FailureReason) -> None:
    # Given a due job whose request never got an answer
    job = due()
    # When the result event is built
    event = result_event(job, request_headers(job), sent(None, reason, "it broke"), T0)
    # Then it is a JobFailed with that reason, the message, and no response
    assert isinstance(event, JobFailed)
    assert event.failure_reason == reason
    assert event.error_message == "it broke"
    assert event.outcome.response_status is None


def test_result_event_ids_are_deterministic_per_run() -> None:
    # Given the same run reported twice (a redelivery)
    job = due()
    a = result_event(job, request_headers(job), sent(200), T0)
    b = result_event(job, request_headers(job), sent(200), T0)
    # Then the event ids match, and differ between success and failure of a run
    assert a.event_id == b.event_id
    assert result_event(job, {}, sent(500), T0).event_id != a.event_id


# -- classification ----------------------------------------------------------------------------------------------
def test_classify_status_buckets() -> None:
    # Given statuses across classes
    # Then 2xx is success, 4xx client error, 5xx server error, anything else unknown
    assert classify_status(200) is None
    assert classify_status(299) is None
    assert classify_status(400) == "http_client_error"
    assert classify_status(499) == "http_client_error"
    assert classify_status(500) == "http_server_error"
    assert classify_status(599) == "http_server_error"
    assert classify_status(301) == "unknown"
    assert classify_status(101) == "unknown"


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (TimeoutError(), "timeout"),
        (aiohttp.ServerTimeoutError("read"), "timeout"),
        (aiohttp.InvalidURL("nope"), "invalid_url"),
        (ValueError("bad url"), "invalid_url"),
        (ConnectionRefusedError(111, "refused"), "connection_error"),
        (aiohttp.ServerDisconnectedError(), "connection_error"),
        (aiohttp.ClientPayloadError("cut"), "connection_error"),
        (RuntimeError("?"), "unknown"),
    ],
)
def test_classify_exception(exc: BaseException, reason: str) -> None:
    # Given an exception raised while sending
    # When it is classified
    got, message = classify_exception(exc)
    # Then the failure reason matches and the message names the exception type
    assert got == reason
    assert type(exc).__name__ in message


# -- success assertions ------------------------------------------------------------------------------------------
def _due_with(*checks: tuple[AssertionType, str]) -> JobDue:
    assertions = tuple(SuccessAssertion(type=t, value=v) for t, v in checks)
    spec = HttpRequestSpec(method="GET", url="https://example.com", assertions=assertions)
    return JobDue(event_id="d", job_id="rc_1", tenant="t", occurred_at=T0, run_id="rc_1:0:1", due_at=T0, request=spec)


def test_a_2xx_that_breaks_an_assertion_fails_with_assertion_failed() -> None:
    # Given a cron run checking for "ready" in the body and a 200
    due = _due_with(("body_contains", "ready"), ("status_code_equals", "200"))
    result = SendResult(started_at_monotonic=0.0, duration_ms=12.0, status=200, body="not yet")
    # When the result is judged
    event = result_event(due, {}, result, T0)
    # Then it is a failure for Recuro's assertion_failed reason, naming the broken check
    assert isinstance(event, JobFailed)
    assert event.failure_reason == "assertion_failed"
    assert "ready" in (event.error_message or "")


def test_a_2xx_that_passes_every_assertion_succeeds() -> None:
    due = _due_with(("body_contains", "ok"), ("status_code_equals", "204"), ("response_time_under_ms", "50"))
    result = SendResult(started_at_monotonic=0.0, duration_ms=12.0, status=204, body="all ok")
    assert isinstance(result_event(due, {}, result, T0), JobSucceeded)


def test_a_slow_answer_breaks_response_time_under_ms() -> None:
    due = _due_with(("response_time_under_ms", "10"))
    result = SendResult(started_at_monotonic=0.0, duration_ms=25.0, status=200, body="")
    event = result_event(due, {}, result, T0)
    assert isinstance(event, JobFailed)
    assert event.failure_reason == "assertion_failed"
