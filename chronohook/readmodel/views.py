"""Read-model documents and the pure fold that builds them from events."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from chronohook.errors import ChronohookError
from chronohook.retries import Done, RetryAt, final_status
from schemas.events import (
    Api,
    CallbackAbandoned,
    CallbackDue,
    CallbackFailed,
    CallbackRetryScheduled,
    CallbackSucceeded,
    Event,
    FailureReason,
    FinalStatus,
    HttpRequestSpec,
    JobCreated,
    JobDeadLettered,
    JobDeleted,
    JobDue,
    JobFailed,
    JobFireFailed,
    JobPaused,
    JobPurged,
    JobPushed,
    JobResumed,
    JobRetryChainResolved,
    JobRetryScheduled,
    JobScheduled,
    JobSucceeded,
    JobUpdated,
    OccurrencesMissed,
)


class ReadModelError(ChronohookError):
    """An event the read model cannot take: the event's fault, so its consumer sets it aside."""


class TenantMismatch(ReadModelError):
    """An event names another tenant than the job it is about: it would hand one tenant's job to another."""


QuedupStatus = Literal["active", "paused", "failed", "completed"]
RecuroStatus = Literal["pending", "processing", "completed", "failed"]
CallbackStatus = Literal["pending", "retrying", "delivered", "abandoned"]


class JobView(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str
    tenant: str
    api: Api
    request: HttpRequestSpec
    created_at: AwareDatetime
    updated_at: AwareDatetime
    name: str | None = None
    integer_id: int | None = None
    schedule: str | None = None
    timezone: str = "UTC"
    catch_up: Literal["latest", "skip"] = "latest"
    run_at: AwareDatetime | None = None
    callback_url: str | None = None
    alert_threshold: int | None = None  # Recuro crons: failures in a row that raise a failure alert
    # QuedUp and Recuro crons
    status: str = "active"
    next_run_at: AwareDatetime | None = None
    paused: bool = False
    # "operator" while paused by ``chronohook tenants suspend`` (decision 0030); its resume restarts only those.
    paused_by: str | None = None
    # Recuro queue jobs
    queue: str | None = None
    queue_id: int | None = None
    payload: dict[str, object] | None = None
    delay_seconds: int = 0
    scheduled_at: AwareDatetime | None = None
    final_status: FinalStatus | None = None
    attempt_number: int = 1
    retry_of: str | None = None
    has_pending_retry: bool = False
    retry_job_id: str | None = None
    dead_lettered_at: AwareDatetime | None = None
    last_run_at: AwareDatetime | None = None
    runs_count: int = 0
    # The latest completion callback of the job's runs: where it stands, and the attempts made so far.
    callback_status: CallbackStatus | None = None
    callback_attempts: int = 0
    # The timer could not fire the job (JobFireFailed, decision 0028): why. The job is then ``failed``.
    last_error: str | None = None


class RunView(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str
    job_id: str
    attempt: int
    success: bool
    due_at: AwareDatetime
    started_at: AwareDatetime
    executed_at: AwareDatetime
    duration_ms: float
    response_status: int | None
    response_body: str | None
    response_headers: dict[str, str]
    response_truncated: bool
    request_headers: dict[str, str]
    request_body: str | None
    error_message: str | None = None
    failure_reason: FailureReason | None = None
    # The tenant's delivery budget delayed the run (decision 0028): when it was due, and by how much it was delayed.
    planned_at: AwareDatetime | None = None
    delayed_by_ms: int = 0


def run_view(event: JobSucceeded | JobFailed) -> RunView:
    o = event.outcome
    failed = isinstance(event, JobFailed)
    return RunView(
        run_id=o.run_id,
        job_id=event.job_id,
        attempt=o.attempt,
        success=not failed,
        due_at=o.due_at,
        started_at=o.started_at,
        executed_at=o.finished_at,
        duration_ms=o.duration_ms,
        response_status=o.response_status,
        response_body=o.response_body,
        response_headers=o.response_headers,
        response_truncated=o.response_truncated,
        request_headers=o.request_headers,
        request_body=o.request_body,
        error_message=event.error_message if isinstance(event, JobFailed) else None,
        failure_reason=event.failure_reason if isinstance(event, JobFailed) else None,
        planned_at=o.planned_at,
        delayed_by_ms=0 if o.planned_at is None else round((o.due_at - o.planned_at).total_seconds() * 1000),
    )


def evolve(view: JobView | None, event: Event) -> JobView | None:
    """The job's read model after ``event``; None when the job does not (or no longer) exist.

    Raises TenantMismatch when ``event`` is about an existing job of another tenant (ids minted twice, or a forged
    record): a job's tenant is set once, by the event that creates it, and no later event changes it.
    """
    if view is not None and event.tenant != view.tenant:
        raise TenantMismatch(
            f"{event.type} for job {event.job_id} names tenant {event.tenant!r}; the job belongs to {view.tenant!r}"
        )
    at = event.occurred_at
    match event:
        case JobCreated() | JobPushed() if view is not None and view.created_at == at:
            # The same creation again (a create under an Idempotency-Key taken over, decision 0019): no reset.
            return view
        case JobCreated():
            return JobView(
                job_id=event.job_id,
                tenant=event.tenant,
                api=event.api,
                request=event.request,
                created_at=at,
                updated_at=at,
                name=event.name,
                integer_id=event.integer_id,
                schedule=event.schedule,
                timezone=event.timezone,
                catch_up=event.catch_up,
                run_at=event.run_at,
                callback_url=event.callback_url,
                alert_threshold=event.alert_threshold,
                status="active" if event.active else "paused",
                paused=not event.active,
                next_run_at=_first_run(event),
            )
        case JobPushed():
            return JobView(
                job_id=event.job_id,
                tenant=event.tenant,
                api=event.api,
                request=event.request,
                created_at=at,
                updated_at=at,
                integer_id=event.integer_id,
                callback_url=event.callback_url,
                status="pending",
                queue=event.queue,
                queue_id=event.queue_id,
                payload=event.payload,
                delay_seconds=event.delay_seconds,
                scheduled_at=event.scheduled_at,
                next_run_at=event.scheduled_at,
                attempt_number=event.attempt_number,
                retry_of=event.retry_of,
            )
        case _ if view is None:
            return None
        case JobDeleted() | JobPurged():
            return None
        case JobUpdated():
            return view.model_copy(
                update=dict(
                    name=event.name,
                    request=event.request,
                    schedule=event.schedule,
                    timezone=event.timezone,
                    catch_up=event.catch_up,
                    run_at=event.run_at,
                    callback_url=event.callback_url,
                    alert_threshold=event.alert_threshold,
                    updated_at=at,
                    status="paused" if view.paused else "active",
                    next_run_at=_first_run(event),
                    last_error=None,
                )
            )
        case JobPaused():
            return view.model_copy(update=dict(paused=True, status="paused", updated_at=at, paused_by=event.by))
        case JobResumed():
            # A scheduled job's next run after a resume is the timer's to decide: its JobScheduled follows.
            return view.model_copy(update=dict(paused=False, status="active", updated_at=at, paused_by=None))
        case JobScheduled() | OccurrencesMissed():
            # The timer's word on a scheduled job's next occurrence: copied, not a change of the job's definition.
            return view.model_copy(update=dict(next_run_at=event.next_run_at))
        case JobDue():
            if view.api == "recuro":
                return view.model_copy(update=dict(status="processing", updated_at=at, next_run_at=None))
            return view.model_copy(update=dict(next_run_at=event.next_run_at, updated_at=at))
        case JobSucceeded():
            return _after_run(view, event)
        case JobFailed():
            return _after_run(view, event)
        case JobRetryScheduled():
            if view.api == "recuro":
                # Decisions 0016, 0034: the original reads ``retrying`` until its chain resolves and carries the
                # chain's has_pending_retry; a retry job whose own attempt failed reads ``failed_with_retries``. As
                # the timer decided it; a record from before it carried one: the same rule, on read.
                original = view.retry_of is None
                step = RetryAt(at=event.retry_at, attempt=event.next_attempt)
                final = event.final_status or final_status(step, retry=not original)
                return view.model_copy(
                    update=dict(
                        final_status=final,
                        has_pending_retry=original or view.has_pending_retry,
                        retry_job_id=event.retry_job_id,
                        updated_at=at,
                    )
                )
            return view.model_copy(update=dict(next_run_at=_earliest(view.next_run_at, event.retry_at), updated_at=at))
        case JobRetryChainResolved():
            if view.api == "recuro" and event.resolution == "success":
                # A retry succeeded: announced on the chain's original job, which carries the chain's outcome.
                return view.model_copy(update=dict(final_status="success", has_pending_retry=False, updated_at=at))
            return view
        case JobDeadLettered():
            if view.api == "recuro":
                # Announced on the chain's original job. With retries off it failed, but is no dead letter.
                update: dict[str, object] = dict(final_status=event.final_status, has_pending_retry=False)
                if event.final_status == "dead_lettered":
                    update["dead_lettered_at"] = at
                return view.model_copy(update={**update, "updated_at": at})
            if view.schedule:
                return view.model_copy(update=dict(updated_at=at))
            return view.model_copy(update=dict(status="failed", next_run_at=None, updated_at=at))
        # A callback is not a change of the job: updated_at stays.
        case CallbackDue():
            status: CallbackStatus = "pending" if event.attempt == 1 else "retrying"
            return view.model_copy(update=dict(callback_status=status, callback_attempts=event.attempt - 1))
        case CallbackSucceeded():
            return view.model_copy(update=dict(callback_status="delivered", callback_attempts=event.attempt))
        case CallbackFailed():
            return view.model_copy(update=dict(callback_attempts=event.attempt))
        case CallbackRetryScheduled():
            return view.model_copy(update=dict(callback_status="retrying"))
        case CallbackAbandoned():
            return view.model_copy(update=dict(callback_status="abandoned", callback_attempts=event.attempts))
        case JobFireFailed() if event.entry_key != event.job_id:
            # One of its callbacks' or alerts' entries: the job itself still runs.
            return view.model_copy(update=dict(last_error=event.error))
        case JobFireFailed():
            # The timer disarmed the job's entry (a redefinition arms it again): it runs no more as it stands.
            update = dict(status="failed", next_run_at=None, last_error=event.error, updated_at=at)
            return view.model_copy(update=update)
    return view


def _after_run(view: JobView, event: JobSucceeded | JobFailed) -> JobView:
    update: dict[str, object] = dict(last_run_at=event.outcome.finished_at, runs_count=view.runs_count + 1)
    success = isinstance(event, JobSucceeded)
    if view.api == "recuro":
        # The one rule (chronohook/retries.py): a success, or a failed retry job, is final at once (a chain's outcome
        # goes to its original); a failed original waits for the timer's decision (JobRetryScheduled or
        # JobDeadLettered), which carries it.
        step = Done(attempts=event.outcome.attempt) if success else None
        final: FinalStatus | None = final_status(step, retry=view.retry_of is not None)
        update.update(status="completed" if success else "failed", final_status=final)
    elif success and not view.schedule:
        update.update(status="completed", next_run_at=None)
    return view.model_copy(update=update)


def _first_run(event: JobCreated | JobUpdated) -> datetime | None:
    """A named job's first run, copied from its event: the instant ingest answered (``next_run_at``), else a
    one-off's ``run_at`` or creation time. A scheduled job's version-1 event carries none: its first JobDue tells it
    (the read model never computes an occurrence, decision 0025)."""
    if event.next_run_at is not None:
        return event.next_run_at
    if event.schedule:
        return None
    return event.run_at or event.occurred_at


def _earliest(a: datetime | None, b: datetime) -> datetime:
    return b if a is None else min(a, b)
