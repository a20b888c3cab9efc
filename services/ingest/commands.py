"""Pure translations: validated requests -> events, and read models -> response bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from chronohook.clock import iso8601_instant, iso8601_offset, rfc3339
from chronohook.ids import deterministic_event_id, queue_id, random_event_id, recuro_cron_key, recuro_job_key
from chronohook.readmodel.views import JobView, RunView
from chronohook.retries import QUEDUP_RETRIES, RECURO_QUEUE_RETRIES
from chronohook.schedule import first_run_at
from chronohook.sealing import masked_headers
from schemas.codec import encode_event
from schemas.events import (
    Envelope,
    HttpRequestSpec,
    JobCreated,
    JobPushed,
    JobUpdated,
    SuccessAssertion,
)
from schemas.topics import MAX_EVENT_BYTES, RESULT_ALLOWANCE_BYTES
from services.ingest.models import (
    CreateCronRequest,
    CreateJobRequest,
    CronResponse,
    Job,
    PushJobRequest,
    RecuroJobResponse,
    RunResponse,
    UpdateJobRequest,
)

DEFAULT_TIMEOUT_SECONDS = 30.0
# QuedUp's product documentation gives a 15-minute request timeout; its Create Job page states none (Recuro's is the
# queue's timeout_seconds).
QUEDUP_TIMEOUT_SECONDS = 900.0


def create_quedup_job(req: CreateJobRequest, tenant: str, job_id: str, now: datetime) -> JobCreated:
    run_at = None if req.schedule else _as_dt(req.run_at)
    return JobCreated(
        event_id=deterministic_event_id(job_id, "created"),  # the job id is new and unique, so is this
        job_id=job_id,
        tenant=tenant,
        occurred_at=now,
        api="quedup",
        name=req.name,
        request=HttpRequestSpec(
            method=req.method,
            url=req.url,
            headers=req.headers or {},
            body=req.body,
            timeout_seconds=QUEDUP_TIMEOUT_SECONDS,
            sensitive_headers=tuple(req.sensitive_headers or ()),
        ),
        schedule=req.schedule,
        timezone=req.timezone,
        catch_up=req.catch_up,
        next_run_at=_first_run(req.schedule, req.timezone, req.catch_up, run_at, now),
        run_at=run_at,
        retry=QUEDUP_RETRIES,
    )


def _first_run(schedule: str | None, timezone: str, catch_up: str, run_at: datetime | None, now: datetime) -> datetime:
    """The first run, for the immediate answer only: the same ``first_run_at`` the timer arms the job with. The
    request models and ``ScheduleChecked`` validated the schedule; a ``ScheduleError`` left is a 422 all the same."""
    return first_run_at(schedule, timezone, catch_up, run_at, now)


def replace_quedup_job(view: JobView, req: CreateJobRequest, now: datetime) -> JobUpdated:
    """``PUT /jobs/{id}``: the full new definition, exactly as a create would make it; fields left out are cleared
    (no body, no headers, no run_at or schedule: due now; UTC, ``latest``). The job's id and its pause stay."""
    created = create_quedup_job(req, view.tenant, view.job_id, now)
    return JobUpdated(
        event_id=random_event_id(),
        job_id=view.job_id,
        tenant=view.tenant,
        occurred_at=now,
        api=view.api,
        name=created.name,
        request=created.request,
        schedule=created.schedule,
        timezone=created.timezone,
        catch_up=created.catch_up,
        next_run_at=created.next_run_at,
        run_at=created.run_at,
        callback_url=view.callback_url,
        retry=QUEDUP_RETRIES,
        active=not view.paused,
    )


def update_quedup_job(view: JobView, req: UpdateJobRequest, now: datetime) -> JobUpdated:
    given = req.model_fields_set
    request = view.request.model_copy(
        update={
            k: (getattr(req, k) if k != "headers" else (req.headers or {}))
            for k in ("method", "url", "body", "headers")
            if k in given and (getattr(req, k) is not None or k == "body")
        }
        | ({"sensitive_headers": tuple(req.sensitive_headers or ())} if "sensitive_headers" in given else {})
        | {"timeout_seconds": QUEDUP_TIMEOUT_SECONDS}
    )
    schedule = req.schedule if "schedule" in given else view.schedule
    run_at = None if schedule else (_as_dt(req.run_at) if "run_at" in given else view.run_at)
    # A null timezone or catch_up sets the default back, as a null clears the other optional fields.
    timezone = (req.timezone or "UTC") if "timezone" in given else view.timezone
    catch_up = (req.catch_up or "latest") if "catch_up" in given else view.catch_up
    return JobUpdated(
        event_id=random_event_id(),
        job_id=view.job_id,
        tenant=view.tenant,
        occurred_at=now,
        api=view.api,
        name=req.name if req.name is not None else (view.name or ""),
        request=request,
        schedule=schedule,
        timezone=timezone,
        catch_up=catch_up,
        next_run_at=_first_run(schedule, timezone, catch_up, run_at, now),
        run_at=run_at,
        callback_url=view.callback_url,
        retry=QUEDUP_RETRIES,
        active=not view.paused,
    )


def recuro_due_at(now: datetime, delay: int, run_at: datetime | None) -> datetime:
    """The instant a Recuro push is sent, which its ``scheduled_at`` promises to the millisecond.

    Recuro answers ``scheduled_at`` in whole seconds, so a ``delay`` job is due on the next whole second at or after
    now + delay: the answer is then exact, never a second early. ``delay: 0`` and a ``run_at`` in the past mean now;
    a ``run_at`` keeps its milliseconds. Everything is cut to the millisecond, the precision we promise and echo.
    """
    if run_at is not None:
        return _to_ms(max(now, run_at.astimezone(UTC)))
    if delay == 0:
        return _to_ms(now)
    at = now + timedelta(seconds=delay)
    whole = at.replace(microsecond=0)
    return whole if whole == at else whole + timedelta(seconds=1)


def _to_ms(at: datetime) -> datetime:
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def recuro_scheduled_at(scheduled_at: datetime, accepted_at: datetime, retry: bool = False) -> str:
    """A Recuro job's ``scheduled_at`` as every answer shows it (the push, the batch, a replay, GET).

    Whole seconds, as Recuro's page writes them (``2026-04-10T14:05:00+00:00``; PHP's ``DATE_ATOM`` cannot read a
    fraction), for everything the page defines: a ``delay`` job (due on a whole second already), a ``delay: 0`` one
    (due at once, reported as the second it was accepted in), a retry and a replay. Only a ``run_at`` ahead of the
    push (chronohook's extension) is echoed with its milliseconds. The job runs at ``scheduled_at`` exactly either
    way: this is its display only. A push is told apart by its instant alone: due at or before it was accepted
    (``delay: 0``, a replay, a ``run_at`` in the past) or on a whole second (``delay``) reads in whole seconds.
    """
    if retry or scheduled_at <= accepted_at:
        return iso8601_offset(scheduled_at)
    return iso8601_instant(scheduled_at)


def push_recuro_job(req: PushJobRequest, tenant: str, integer_id: int, now: datetime) -> JobPushed:
    scheduled = recuro_due_at(now, req.delay, _as_dt(req.run_at))
    body = None if req.payload is None else json.dumps(req.payload, separators=(",", ":"))
    headers = dict(req.headers or {})
    if body is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json"
    job_id = recuro_job_key(integer_id)
    return JobPushed(
        event_id=deterministic_event_id(job_id, "pushed"),  # a fresh snowflake's job: unique without entropy
        job_id=job_id,
        tenant=tenant,
        occurred_at=now,
        integer_id=integer_id,
        queue=req.queue,
        queue_id=queue_id(tenant, req.queue),
        request=HttpRequestSpec(
            method=req.method,
            url=req.url,
            headers=headers,
            body=body,
            timeout_seconds=DEFAULT_TIMEOUT_SECONDS,
            sensitive_headers=tuple(req.sensitive_headers or ()),
        ),
        payload=req.payload,
        scheduled_at=scheduled,
        delay_seconds=max(0, int((scheduled - now).total_seconds())),
        callback_url=req.callback_url,
        retry=RECURO_QUEUE_RETRIES,
    )


def create_recuro_cron(req: CreateCronRequest, tenant: str, cron_id: int, now: datetime) -> JobCreated:
    job_id = recuro_cron_key(cron_id)
    return JobCreated(
        event_id=deterministic_event_id(job_id, "created"),
        job_id=job_id,
        tenant=tenant,
        occurred_at=now,
        api="recuro_cron",
        name=req.name,
        request=HttpRequestSpec(
            method=req.method,
            url=req.url,
            headers=req.headers or {},
            body=req.payload,
            timeout_seconds=float(req.timeout_seconds),
            assertions=tuple(SuccessAssertion(type=a.type, value=a.value) for a in req.success_assertions),
            sensitive_headers=tuple(req.sensitive_headers or ()),
        ),
        schedule=req.cron_expression,
        timezone=req.timezone,
        catch_up=req.catch_up,
        next_run_at=_first_run(req.cron_expression, req.timezone, req.catch_up, None, now),
        callback_url=req.callback_url,
        active=req.is_active,
        integer_id=cron_id,
        alert_threshold=req.alert_threshold,
    )


TOO_LARGE = (
    "The body is larger than the request limit (1 MiB by default), or the job's largest event would exceed the "
    f"{MAX_EVENT_BYTES:,}-byte event budget (docs/api.md)"
)


def largest_event_bytes(event: Envelope) -> int:
    """The encoded size of the largest event a job written by ``event`` can lead to.

    A run's result repeats the request and adds the response (capped) and error text: RESULT_ALLOWANCE_BYTES covers
    the additions. Measured on the encoded event, because JSON escaping makes text grow up to six-fold (``\\u0001``).
    """
    return len(encode_event(event)) + RESULT_ALLOWANCE_BYTES


def over_budget(event: Envelope, which: str = "The job") -> str | None:
    """Why the job cannot be accepted because its events could not fit a Kafka record, or None when it fits."""
    size = largest_event_bytes(event)
    if size <= MAX_EVENT_BYTES:
        return None
    room = MAX_EVENT_BYTES - RESULT_ALLOWANCE_BYTES
    return (
        f"{which} is too large: it encodes to {size - RESULT_ALLOWANCE_BYTES:,} bytes and at most {room:,} fit "
        f"(the event limit is {MAX_EVENT_BYTES:,} bytes, of which {RESULT_ALLOWANCE_BYTES:,} are kept for a run's "
        "result). Send a smaller body, payload or fewer headers."
    )


def _as_dt(value: object) -> datetime | None:
    assert value is None or isinstance(value, datetime)
    return value


# -- responses --------------------------------------------------------------------------------------------------
def quedup_job(view: JobView) -> Job:
    status = view.status if view.status in ("active", "paused", "failed", "completed") else "active"
    done = status in ("completed", "failed")
    return Job(
        id=view.job_id,
        name=view.name or "",
        method=view.request.method,
        url=view.request.url,
        body=view.request.body or "",
        headers=masked_headers(view.request.headers, view.request.sensitive_headers),
        schedule=view.schedule,
        timezone=view.timezone,
        catch_up=view.catch_up,
        next_run_at=None if done or view.next_run_at is None else rfc3339(view.next_run_at),
        status=status,
    )


def quedup_job_from_event(event: JobCreated | JobUpdated, status: str = "active") -> Job:
    next_run = event.next_run_at
    assert next_run is not None  # ingest's own events carry it
    return Job(
        id=event.job_id,
        name=event.name,
        method=event.request.method,
        url=event.request.url,
        body=event.request.body or "",
        headers=masked_headers(event.request.headers, event.request.sensitive_headers),
        schedule=event.schedule,
        timezone=event.timezone,
        catch_up=event.catch_up,
        next_run_at=rfc3339(next_run),
        status=status,
    )


def recuro_cron(event: JobCreated) -> CronResponse:
    assert event.integer_id is not None and event.next_run_at is not None
    return CronResponse(
        id=event.integer_id,
        name=event.name,
        cron_expression=event.schedule or "",
        timezone=event.timezone,
        catch_up=event.catch_up,
        next_run_at=iso8601_offset(event.next_run_at),
        is_active=event.active,
    )


def _integer(key: str | None) -> int | None:
    return None if key is None else int(key.rsplit("_", 1)[-1])


def recuro_job(view: JobView, runs: list[RunView]) -> RecuroJobResponse:
    assert view.integer_id is not None
    return RecuroJobResponse(
        id=view.integer_id,
        queue_id=view.queue_id,
        queue=view.queue,
        url=view.request.url,
        method=view.request.method,
        headers=masked_headers(view.request.headers, view.request.sensitive_headers),
        payload=view.payload,
        callback_url=view.callback_url,
        status=view.status,
        final_status=view.final_status,
        attempt_number=view.attempt_number,
        is_retry=view.retry_of is not None,
        retry_of=_integer(view.retry_of),
        has_pending_retry=view.has_pending_retry,
        retry_job_id=_integer(view.retry_job_id),
        scheduled_at=None
        if view.scheduled_at is None
        else recuro_scheduled_at(view.scheduled_at, view.created_at, retry=view.retry_of is not None),
        created_at=iso8601_offset(view.created_at),
        dead_lettered_at=None if view.dead_lettered_at is None else iso8601_offset(view.dead_lettered_at),
        runs=[
            RunResponse(
                run_id=r.run_id,
                attempt_number=r.attempt,
                response_status=r.response_status,
                response_body=r.response_body,
                response_headers=r.response_headers,
                request_headers=masked_headers(r.request_headers, view.request.sensitive_headers),
                request_body=r.request_body,
                started_at=iso8601_offset(r.started_at),
                executed_at=iso8601_offset(r.executed_at),
                duration_ms=r.duration_ms,
                error_message=r.error_message,
                failure_reason=r.failure_reason,
            )
            for r in runs
        ],
    )
