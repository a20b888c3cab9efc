"""Pure: turn a due job and what the sender saw into the result event, one that can always be recorded."""

from __future__ import annotations

from datetime import datetime, timedelta

from chronohook.ids import deterministic_event_id
from chronohook.outbound.sender import SendResult
from chronohook.outbound.signing import SigningKeys, signed
from schemas import encode_event
from schemas.events import FailureReason, JobDue, JobFailed, JobSucceeded, RunOutcome, SuccessAssertion
from schemas.topics import MAX_EVENT_BYTES

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


def webhook_id(due: JobDue) -> str:
    """The Standard Webhooks ``webhook-id``: the same on every attempt of one occurrence, so the receiver dedupes on it.

    The timer sets it where the run id alone would not do (a Recuro retry is a new job: it carries its original's);
    else it is the run id without its attempt (``<job id>:<occurrence ms>``).
    """
    return due.webhook_id or due.run_id.rsplit(":", 1)[0]


def signed_request_headers(due: JobDue, keys: SigningKeys, now: datetime) -> dict[str, str]:
    """``request_headers`` signed for an attempt sent at ``now``, over the exact body sent (docs/api.md)."""
    return signed(request_headers(due), keys, webhook_id(due), due.request.body, now)


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
    """The run's result event, always one that encodes within MAX_EVENT_BYTES (see ``recordable``)."""
    return recordable(_result_event(due, headers, result, started_at))


def unrecordable(event: JobSucceeded | JobFailed) -> tuple[FailureReason, str] | None:
    """Why ``event`` cannot be recorded as it is (text that is not valid Unicode, or too large); None when it can."""
    if _plainly_fits(event):
        return None
    try:
        size = len(encode_event(event))
    except ValueError as exc:  # pydantic's serialisation error: a lone surrogate, say
        return "unknown", f"it could not be encoded: {str(exc)[:200]}"
    if size > MAX_EVENT_BYTES:
        return "limit_exceeded", f"it is {size:,} bytes, over the {MAX_EVENT_BYTES:,}-byte event limit"
    return None


# Room for everything in a result event besides its free text (ids, times, field names), with a wide margin.
_ENVELOPE_ALLOWANCE = 64 * 1024


def _plainly_fits(event: JobSucceeded | JobFailed) -> bool:
    """A quick yes for the usual result, without encoding it twice (the producer encodes it): ASCII text always
    encodes, and at most six-fold (a control character becomes a six-character escape). Else the full check."""
    o = event.outcome
    texts = [o.response_body, o.request_body, o.callback_url, getattr(event, "error_message", None)]
    texts.extend(o.response_headers.keys())
    texts.extend(o.response_headers.values())
    texts.extend(o.request_headers.keys())
    texts.extend(o.request_headers.values())
    total = 0
    for text in texts:
        if text is None:
            continue
        if not text.isascii():
            return False
        total += len(text)
    return 6 * total + _ENVELOPE_ALLOWANCE <= MAX_EVENT_BYTES


def recordable(event: JobSucceeded | JobFailed) -> JobSucceeded | JobFailed:
    """``event`` when it can be recorded; else a failed run of the same attempt, without what made it unrecordable.

    A failure to record one job is a failed run of that job, never a crash of the service: the response (headers
    and body) is dropped first, then what the request added to the event, and the run fails with an
    ``error_message`` saying why. What is left comes from the JobDue, which was itself a recordable event.
    """
    problem = unrecordable(event)
    if problem is None:
        return event
    reason, why = problem
    o = event.outcome
    slim = o.model_copy(update=dict(response_headers={}, response_body=None, response_truncated=True))
    failed = JobFailed(
        event_id=deterministic_event_id("failed", o.run_id),
        job_id=event.job_id,
        tenant=event.tenant,
        occurred_at=event.occurred_at,
        outcome=slim,
        failure_reason=reason,
        error_message=f"the run's result could not be recorded ({why}); its response was dropped",
    )
    if unrecordable(failed) is None:
        return failed
    bare = slim.model_copy(update=dict(request_headers={}, request_body=None))
    return failed.model_copy(
        update=dict(
            outcome=bare,
            error_message=f"the run's result could not be recorded ({why}); its request and response were dropped",
        )
    )


def _result_event(
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
        planned_at=due.planned_at,
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
