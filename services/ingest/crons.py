"""Pure translations for Recuro's crons after create: a PATCH -> events, a cron's view -> its answer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from chronohook.clock import iso8601_offset
from chronohook.ids import random_event_id
from chronohook.readmodel.views import JobView, evolve
from chronohook.schedule import Schedule, first_run_at, resumed_due
from chronohook.sealing import masked_headers
from schemas.events import JobPaused, JobResumed, JobUpdated, SuccessAssertion
from services.ingest.models import CronAssertion, CronDetail, UpdateCronRequest

# Fields whose change rewrites the cron's definition (a JobUpdated); is_active alone only pauses or resumes.
CronChange = JobUpdated | JobPaused | JobResumed
DEFINITION = frozenset(UpdateCronRequest.model_fields) - {"is_active"}


def update_recuro_cron(view: JobView, req: UpdateCronRequest, now: datetime) -> list[CronChange]:
    """The events a PATCH makes, to be appended atomically, in order; none when it changes nothing.

    A definition change is one JobUpdated carrying the whole new definition and the cron's active state after the
    PATCH; an ``is_active`` that changes that state also appends JobPaused or JobResumed after it, so every
    consumer (those folding JobUpdated.active and those folding pauses alike) ends in the same state.
    """
    given = req.model_fields_set
    active = req.is_active if "is_active" in given and req.is_active is not None else not view.paused
    events: list[CronChange] = []
    if given & DEFINITION:
        events.append(_updated(view, req, given, active, now))
    if active == view.paused:  # the state changes
        kind = JobResumed if active else JobPaused
        events.append(kind(event_id=random_event_id(), job_id=view.job_id, tenant=view.tenant, occurred_at=now))
    return events


def _updated(view: JobView, req: UpdateCronRequest, given: set[str], active: bool, now: datetime) -> JobUpdated:
    # Fields that cannot be null were refused as null by UpdateCronRequest: a named one here holds a value.
    spec: dict[str, object] = {}
    if "method" in given:
        spec["method"] = req.method
    if "url" in given:
        spec["url"] = req.url
    if "headers" in given:
        spec["headers"] = req.headers or {}
    if "sensitive_headers" in given:
        spec["sensitive_headers"] = tuple(req.sensitive_headers or ())
    if "payload" in given:
        spec["body"] = req.payload
    if "timeout_seconds" in given and req.timeout_seconds is not None:
        spec["timeout_seconds"] = float(req.timeout_seconds)
    if "success_assertions" in given:
        spec["assertions"] = tuple(SuccessAssertion(type=a.type, value=a.value) for a in req.success_assertions or [])
    expression = req.cron_expression if "cron_expression" in given and req.cron_expression else view.schedule
    timezone = req.timezone if "timezone" in given and req.timezone else view.timezone
    catch_up = req.catch_up if "catch_up" in given and req.catch_up else view.catch_up
    return JobUpdated(
        event_id=random_event_id(),
        job_id=view.job_id,
        tenant=view.tenant,
        occurred_at=now,
        api="recuro_cron",
        name=req.name if "name" in given and req.name is not None else (view.name or ""),
        # The request models validated every value: HttpRequestSpec holds them as they are.
        request=view.request.model_copy(update=spec),
        schedule=expression,
        timezone=timezone,
        catch_up=catch_up,
        # For the answer and the read model's first value; the timer's JobScheduled decides (decision 0025).
        next_run_at=first_run_at(expression, timezone, catch_up, None, now),
        callback_url=req.callback_url if "callback_url" in given else view.callback_url,
        active=active,
        alert_threshold=req.alert_threshold if "alert_threshold" in given else view.alert_threshold,
    )


def cron_detail(view: JobView) -> CronDetail:
    assert view.integer_id is not None
    return CronDetail(
        id=view.integer_id,
        name=view.name or "",
        url=view.request.url,
        method=view.request.method,
        headers=masked_headers(view.request.headers, view.request.sensitive_headers),
        payload=view.request.body,
        cron_expression=view.schedule or "",
        timezone=view.timezone,
        catch_up=view.catch_up,
        callback_url=view.callback_url,
        timeout_seconds=round(view.request.timeout_seconds),
        alert_threshold=view.alert_threshold,
        success_assertions=[CronAssertion(type=a.type, value=a.value) for a in view.request.assertions],
        is_active=not view.paused,
        # Nothing runs while paused: no next occurrence to announce (resuming skips the ones missed meanwhile).
        next_run_at=None if view.paused or view.next_run_at is None else iso8601_offset(view.next_run_at),
        last_run_at=None if view.last_run_at is None else iso8601_offset(view.last_run_at),
        created_at=iso8601_offset(view.created_at),
        updated_at=iso8601_offset(view.updated_at),
    )


def answer_after(view: JobView, events: Sequence[JobUpdated | JobPaused | JobResumed]) -> JobView:
    """The job as a write's answer shows it at once: ``view`` with ``events`` folded, and after a resume the next
    occurrence the timer will arm (the same ``resumed_due``; the timer's JobScheduled tells the read model)."""
    after: JobView | None = view
    for event in events:
        after = evolve(after, event)
        if after is not None and isinstance(event, JobResumed) and after.schedule:
            schedule = Schedule(after.schedule, after.timezone, after.catch_up)
            after = after.model_copy(
                update={"next_run_at": resumed_due(schedule, after.next_run_at, event.occurred_at)}
            )
    assert after is not None
    return after
