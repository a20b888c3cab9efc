"""Pure: turn a due job and what the sender saw into the result event."""

from __future__ import annotations

from datetime import datetime, timedelta

from chronohook.ids import deterministic_event_id
from chronohook.outbound.sender import SendResult
from schemas.events import JobDue, JobFailed, JobSucceeded, RunOutcome, SuccessAssertion

USER_AGENT = "chronohook/0.1"


def request_headers(due: JobDue) -> dict[str, str]:
    """What goes on the wire: the user's headers plus ours (the user's win, except the run id)."""
    headers = {"User-Agent": USER_AGENT}
    if due.request.body is not None:
        headers["Content-Type"] = "application/json" if due.request.body[:1] in "{[" else "text/plain"
    headers.update(due.request.headers)
    headers["X-Chronohook-Run-Id"] = due.run_id
    headers["X-Chronohook-Attempt"] = str(due.attempt)
    return headers


def failed_assertions(assertions: tuple[SuccessAssertion, ...], result: SendResult) -> list[str]:
    """What each failing assertion says; empty when all pass."""
    broken = []
    for check in assertions:
        if check.type == "status_code_equals" and str(result.status) != check.value.strip():
            broken.append(f"status code {result.status} is not {check.value}")
        elif check.type == "response_time_under_ms" and not result.duration_ms < float(check.value):
            broken.append(f"response time {result.duration_ms:.0f} ms is not under {check.value} ms")
        elif check.type == "body_contains" and check.value not in (result.body or ""):
            broken.append(f"response body does not contain {check.value!r}")
    return broken


def result_event(
    due: JobDue, headers: dict[str, str], result: SendResult, started_at: datetime
) -> JobSucceeded | JobFailed:
    finished_at = started_at + timedelta(milliseconds=result.duration_ms)
    outcome = RunOutcome(
        run_id=due.run_id,
        attempt=due.attempt,
        due_at=due.due_at,
        started_at=started_at,
        finished_at=finished_at,
        duration_ms=round(result.duration_ms, 3),
        request_headers=headers,
        request_body=due.request.body,
        response_status=result.status,
        response_headers=result.headers,
        response_body=result.body,
        response_truncated=result.truncated,
        callback_url=due.callback_url,
    )
    base = dict(job_id=due.job_id, tenant=due.tenant, occurred_at=finished_at, outcome=outcome)
    broken = failed_assertions(due.request.assertions, result) if result.failure_reason is None else []
    if broken:
        return JobFailed(
            event_id=deterministic_event_id("failed", due.run_id),
            failure_reason="assertion_failed",
            error_message="; ".join(broken),
            **base,
        )
    if result.failure_reason is None:
        return JobSucceeded(event_id=deterministic_event_id("succeeded", due.run_id), **base)
    return JobFailed(
        event_id=deterministic_event_id("failed", due.run_id),
        failure_reason=result.failure_reason,
        error_message=result.error_message,
        **base,
    )
