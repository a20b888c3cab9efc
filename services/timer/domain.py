"""The timer's decisions as pure functions of (state, input, now). No I/O, no clock reads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from chronohook.ids import deterministic_event_id, recuro_job_key, retry_job_id
from chronohook.schedule import first_run_at, next_occurrence
from schemas.changelog import AlertEntry, CallbackEntry, Entry, RetrySlot, TimerEntry
from schemas.events import (
    AlertDelivered,
    AlertDeliveryFailed,
    CallbackFailed,
    CallbackSucceeded,
    Envelope,
    Event,
    JobCreated,
    JobDeadLettered,
    JobDeleted,
    JobDue,
    JobFailed,
    JobPaused,
    JobPushed,
    JobResumed,
    JobRetryScheduled,
    JobSucceeded,
    JobUpdated,
)
from services.timer.alerts import fire_alert, on_alert_result, on_cron_run
from services.timer.callbacks import fire_callback, on_callback_result, on_run_completed
from services.timer.queues import QueueLookup, apply_queue_settings, default_settings, held

Outcome = tuple[TimerEntry | None, list[Envelope]]
# Every entry one event changed, by key (None: the entry is gone), and the events decided.
Decision = tuple[dict[str, Entry | None], list[Envelope]]


def decide(lookup: Callable[[str], Entry | None], event: Event, now: datetime) -> Decision:
    """Everything one consumed event changes: the job's entry, and the entries of its runs' callbacks.

    A callback has an entry of its own, keyed by its callback id in the job's partition: a one-off job's entry
    goes as soon as its run is done, while the callback may still be retried for the next 45 minutes.
    """
    match event:
        case CallbackSucceeded() | CallbackFailed():
            cb = lookup(event.callback_id)
            before = cb if isinstance(cb, CallbackEntry) else None
            after, emitted = on_callback_result(before, event)
            return ({} if after is before else {event.callback_id: after}), emitted
        case AlertDelivered() | AlertDeliveryFailed():
            found = lookup(event.alert_id)
            alert = found if isinstance(found, AlertEntry) else None
            after_alert, emitted = on_alert_result(alert, event)
            return ({} if after_alert is alert else {event.alert_id: after_alert}), emitted
    job = lookup(event.job_id)
    entry = job if isinstance(job, TimerEntry) else None
    new, emitted = on_event(entry, event, now)
    changes: dict[str, Entry | None] = {} if new is entry else {event.job_id: new}
    if (
        isinstance(event, JobSucceeded | JobFailed)
        and entry is not None
        and event.outcome.run_id in entry.in_flight  # else a redelivered result: its callback exists already
    ):
        cb, due = on_run_completed(entry, event)
        if cb is not None:
            changes[cb.callback_id] = cb
            emitted = [*emitted, *due]
        # A cron's alerts (services/timer/alerts.py): its failures in a row, and the alert a run crosses.
        counted, alert, raised = on_cron_run(entry, new, event)
        if counted is not new:
            changes[event.job_id] = counted
        if alert is not None:
            changes[alert.alert_id] = alert
            emitted = [*emitted, *raised]
    return changes, emitted


def run_id(job_id: str, occurrence: datetime, attempt: int) -> str:
    return f"{job_id}:{int(occurrence.timestamp() * 1000)}:{attempt}"


def _named_entry(event: JobCreated | JobUpdated, integer_id: int | None) -> TimerEntry:
    """A named job (QuedUp job, Recuro cron) armed for its first run after ``event``."""
    return TimerEntry(
        job_id=event.job_id,
        tenant=event.tenant,
        api=event.api,
        request=event.request,
        retry=event.retry,
        callback_url=event.callback_url,
        name=event.name,
        schedule=event.schedule,
        next_due=first_run_at(event.schedule, event.run_at, event.occurred_at),
        paused=not event.active,
        integer_id=integer_id,
        alert_threshold=event.alert_threshold,
    )


def on_event(entry: TimerEntry | None, event: Event, now: datetime) -> Outcome:  # noqa: ARG001
    """Evolve a job's timer entry by one consumed event; may decide follow-up events (retries).

    ``now`` is unused today: decisions use the events' own times, so a replay of the log decides the same.
    """
    match event:
        case JobCreated() | JobPushed() if entry is not None:
            # Created already: a repeat (a create under an Idempotency-Key taken over, decision 0019) changes nothing.
            return entry, []
        case JobCreated():
            return _named_entry(event, event.integer_id), []
        case JobPushed():
            return (
                TimerEntry(
                    job_id=event.job_id,
                    tenant=event.tenant,
                    api=event.api,
                    request=event.request,
                    retry=event.retry,
                    callback_url=event.callback_url,
                    next_due=event.scheduled_at,
                    integer_id=event.integer_id,
                    queue=event.queue,
                    queue_id=event.queue_id,
                    payload=event.payload,
                    attempt_number=event.attempt_number,
                ),
                [],
            )
        case JobUpdated() if entry is None:
            # The job had finished (completed or failed): an update schedules it again.
            return _named_entry(event, None), []
        case JobUpdated() if entry is not None:
            return (
                entry.model_copy(
                    update={
                        "request": event.request,
                        "name": event.name,
                        "schedule": event.schedule,
                        "callback_url": event.callback_url,
                        "alert_threshold": event.alert_threshold,
                        "next_due": first_run_at(event.schedule, event.run_at, event.occurred_at),
                        "retry_slot": None,
                    }
                ),
                [],
            )
        case JobPaused() if entry is not None:
            return entry.model_copy(update={"paused": True}), []
        case JobResumed() if entry is not None:
            update: dict[str, object] = {"paused": False}
            if entry.schedule and entry.next_due is not None and entry.next_due < event.occurred_at:
                # Occurrences missed while paused are skipped, not caught up.
                update["next_due"] = next_occurrence(entry.schedule, event.occurred_at)
            return entry.model_copy(update=update), []
        case JobDeleted():
            return None, []
        case JobSucceeded() if entry is not None and event.outcome.run_id in entry.in_flight:
            return _settle(entry, event.outcome.run_id), []
        case JobFailed() if entry is not None and event.outcome.run_id in entry.in_flight:
            return _on_failure(entry, event)
        case _:
            return entry, []


def _settle(entry: TimerEntry, finished_run: str) -> TimerEntry | None:
    settled = entry.model_copy(update={"in_flight": tuple(r for r in entry.in_flight if r != finished_run)})
    return None if settled.done else settled


def _on_failure(entry: TimerEntry, event: JobFailed) -> Outcome:
    outcome = event.outcome
    failed_at = outcome.finished_at
    settled = entry.model_copy(update={"in_flight": tuple(r for r in entry.in_flight if r != outcome.run_id)})
    # Attempt numbers count across a Recuro retry chain (each retry is a new job).
    attempt = max(outcome.attempt, entry.attempt_number)
    delays = entry.retry.delays
    base = dict(job_id=entry.job_id, tenant=entry.tenant, occurred_at=failed_at)
    if attempt > len(delays):
        dead = JobDeadLettered(
            **base,
            event_id=deterministic_event_id("dead", outcome.run_id),
            failed_run_id=outcome.run_id,
            attempts=attempt,
            retries_enabled=bool(delays),
        )
        return (None if settled.done else settled), [dead]
    retry_at = failed_at + timedelta(seconds=delays[attempt - 1])
    if entry.api == "recuro" and entry.integer_id is not None:
        new_integer_id = retry_job_id(entry.integer_id, attempt + 1)
        new_key = recuro_job_key(new_integer_id)
        push = JobPushed(
            job_id=new_key,
            tenant=entry.tenant,
            occurred_at=failed_at,
            event_id=deterministic_event_id("retry-push", outcome.run_id),
            integer_id=new_integer_id,
            queue=entry.queue or "",
            queue_id=entry.queue_id or 0,
            request=entry.request,
            payload=entry.payload,
            scheduled_at=retry_at,
            callback_url=entry.callback_url,
            retry=entry.retry,
            attempt_number=attempt + 1,
            retry_of=entry.job_id,
        )
        scheduled = JobRetryScheduled(
            **base,
            event_id=deterministic_event_id("retry", outcome.run_id),
            failed_run_id=outcome.run_id,
            next_attempt=attempt + 1,
            retry_at=retry_at,
            retry_job_id=new_key,
        )
        return (None if settled.done else settled), [scheduled, push]
    slot = RetrySlot(due_at=retry_at, attempt=attempt + 1, occurrence=outcome.due_at)
    scheduled = JobRetryScheduled(
        **base,
        event_id=deterministic_event_id("retry", outcome.run_id),
        failed_run_id=outcome.run_id,
        next_attempt=attempt + 1,
        retry_at=retry_at,
    )
    return settled.model_copy(update={"retry_slot": slot}), [scheduled]


def fire_entry(
    entry: Entry, now: datetime, lead: timedelta = timedelta(0), queues: QueueLookup = default_settings
) -> tuple[Entry | None, list[Envelope]]:
    """Hand out whatever ``entry`` (a job's or a callback's) has due by ``now + lead``; ``queues``: the Recuro
    queues' settings in force (services/timer/queues.py)."""
    if isinstance(entry, CallbackEntry):
        return fire_callback(entry, now, lead)
    if isinstance(entry, AlertEntry):
        return fire_alert(entry, now, lead)
    return fire(entry, now, lead, queues)


def fire(
    entry: TimerEntry, now: datetime, lead: timedelta = timedelta(0), queues: QueueLookup = default_settings
) -> Outcome:
    """Hand out every attempt of ``entry`` due by ``now + lead``; a paused queue's job is held, not fired."""
    if entry.paused or held(entry, queues):
        return entry, []
    horizon = now + lead
    emitted: list[Envelope] = []
    if entry.retry_slot is not None and entry.retry_slot.due_at <= horizon:
        slot = entry.retry_slot
        due = _due(entry, slot.due_at, slot.occurrence, slot.attempt, entry.next_due, now)
        entry = entry.model_copy(update={"retry_slot": None, "in_flight": (*entry.in_flight, due.run_id)})
        emitted.append(due)
    if entry.next_due is not None and entry.next_due <= horizon:
        occurrence = entry.next_due
        following = None
        if entry.schedule:
            following = next_occurrence(entry.schedule, occurrence)
            if following <= now:
                # After downtime, fire the missed occurrence once and resume from the present.
                following = next_occurrence(entry.schedule, now)
        due = _due(entry, occurrence, occurrence, entry.attempt_number, following, now)
        entry = entry.model_copy(update={"next_due": following, "in_flight": (*entry.in_flight, due.run_id)})
        emitted.append(due)
    return entry, apply_queue_settings(entry, emitted, queues)


def _due(
    entry: TimerEntry,
    due_at: datetime,
    occurrence: datetime,
    attempt: int,
    next_run_at: datetime | None,
    now: datetime,
) -> JobDue:
    rid = run_id(entry.job_id, occurrence, attempt)
    return JobDue(
        event_id=deterministic_event_id("due", rid),
        job_id=entry.job_id,
        tenant=entry.tenant,
        occurred_at=now,
        run_id=rid,
        due_at=due_at,
        attempt=attempt,
        request=entry.request,
        callback_url=entry.callback_url,
        next_run_at=next_run_at,
    )
