"""The timer's decisions as pure functions of (state, input, now). No I/O, no clock reads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

from chronohook.clock import to_ms
from chronohook.ids import deterministic_event_id, recuro_job_key, retry_job_id
from chronohook.retries import DeadLetter, Done, QueueSettingsLookup, dead_end, final_status, next_step, policy_for
from chronohook.schedule import MISFIRE_THRESHOLD, Schedule, first_run_at, resumed_due
from schemas.changelog import AlertEntry, CallbackEntry, Entry, PurgeEntry, QueueAlertsEntry, RetrySlot, TimerEntry
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
    JobRetryChainResolved,
    JobRetryScheduled,
    JobRunCancelled,
    JobScheduled,
    JobSucceeded,
    JobUpdated,
    OccurrencesMissed,
    QueueOutcome,
    QueueSettings,
)
from services.timer import retention
from services.timer.alerts import fire_alert, on_alert_result, on_cron_run, on_queue_outcome, queue_alert_hook
from services.timer.callbacks import fire_callback, on_callback_result, on_run_completed
from services.timer.queues import QueueLookup, apply_queue_settings, default_settings, held

Outcome = tuple[TimerEntry | None, list[Envelope]]
# Every entry one event changed, by key (None: the entry is gone), and the events decided.
Decision = tuple[dict[str, Entry | None], list[Envelope]]


def decide(
    lookup: Callable[[str], Entry | None], event: Event, now: datetime, queues: QueueSettingsLookup | None = None
) -> Decision:
    """Everything one consumed event changes: the job's entry, and the entries of its runs' callbacks.

    ``queues`` gives a Recuro queue's settings in force (tenant, queue name): a failed run's retries follow them
    (chronohook/retries.py); without it, a job follows the retry policy its push carried.

    A callback has an entry of its own, keyed by its callback id in the job's partition: a one-off job's entry
    goes as soon as its run is done, while the callback may still be retried for the next 45 minutes.
    """
    if retention.concerns(event):  # a dead letter's retention: armed, cancelled (services/timer/retention.py)
        return retention.on_event(lookup, event)
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
        case QueueOutcome():
            return _queue_outcome(lookup, event)
    job = lookup(event.job_id)
    entry = job if isinstance(job, TimerEntry) else None
    settings = _queue_settings(entry, queues)
    new, emitted = on_event(entry, event, now, settings)
    emitted = retention.stamp(emitted, retention.settings_of(entry, queues))  # a dead letter's purge_at
    changes: dict[str, Entry | None] = {} if new is entry else {event.job_id: new}
    if (
        isinstance(event, JobSucceeded | JobFailed)
        and entry is not None
        and event.outcome.run_id in entry.in_flight  # else a redelivered result: its callback exists already
    ):
        cb, due = on_run_completed(entry, event, emitted)
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
        # A queue's alerts: the chain's final outcome, sent on to the partition of the queue's key.
        emitted = [*emitted, *queue_alert_hook(entry, event, emitted, settings)]
    return changes, emitted


def _queue_outcome(lookup: Callable[[str], Entry | None], event: QueueOutcome) -> Decision:
    """A queue's final outcome, keyed by the queue: its count, and the alert it raises (services/timer/alerts.py)."""
    found = lookup(event.job_id)
    before = found if isinstance(found, QueueAlertsEntry) else None
    after, alert, emitted = on_queue_outcome(before, event)
    changes: dict[str, Entry | None] = {} if after is before else {event.job_id: after}
    if alert is not None:
        changes[alert.alert_id] = alert
    return changes, emitted


def run_id(job_id: str, occurrence: datetime, attempt: int) -> str:
    return f"{webhook_id(job_id, occurrence)}:{attempt}"


def webhook_id(job_id: str, occurrence: datetime) -> str:
    """The Standard Webhooks ``webhook-id`` of one occurrence: the same on every attempt (the run id without it)."""
    return f"{job_id}:{int(occurrence.timestamp() * 1000)}"


def _webhook_id_of_run(run: str) -> str:
    return run.rsplit(":", 1)[0]


def _queue_settings(entry: TimerEntry | None, queues: QueueSettingsLookup | None) -> QueueSettings | None:
    if queues is None or entry is None or entry.api != "recuro" or entry.queue is None:
        return None
    return queues(entry.tenant, entry.queue)


def schedule_of(entry: TimerEntry) -> Schedule | None:
    """The entry's schedule (None for a one-off)."""
    return Schedule(entry.schedule, entry.timezone, entry.catch_up) if entry.schedule else None


def _define(entry: TimerEntry | None, event: JobCreated | JobUpdated, integer_id: int | None) -> Outcome:
    """A named job (QuedUp job, Recuro cron) created or redefined by ``event``, armed for its first run after it; a
    scheduled one's arming is told in a ``JobScheduled``. An update of a job that had finished (no entry) schedules
    it again; one of a live job keeps its pause, its runs in flight and its alert count, and drops a pending retry."""
    definition: dict[str, object] = {
        "request": event.request,
        "retry": event.retry,
        "callback_url": event.callback_url,
        "name": event.name,
        "schedule": event.schedule,
        "timezone": event.timezone,
        "catch_up": event.catch_up,
        "alert_threshold": event.alert_threshold,
        # The same rule as ingest's immediate answer (the event's next_run_at), decided again here: the timer arms.
        "next_due": first_run_at(event.schedule, event.timezone, event.catch_up, event.run_at, event.occurred_at),
    }
    if entry is None:
        new = TimerEntry.model_validate(
            {
                "job_id": event.job_id,
                "tenant": event.tenant,
                "api": event.api,
                "paused": not event.active,
                "integer_id": integer_id,
            }
            | definition
        )
    else:
        new = entry.model_copy(update=definition | {"retry_slot": None})
    return new, _armed(new, event, "created" if isinstance(event, JobCreated) else "updated")


def _armed(
    entry: TimerEntry, cause: JobCreated | JobUpdated | JobResumed, reason: Literal["created", "updated", "resumed"]
) -> list[Envelope]:
    """The timer's word on a scheduled job's next occurrence (none for a one-off: its instant is its event's)."""
    if not entry.schedule or entry.next_due is None:
        return []
    return [
        JobScheduled(
            event_id=deterministic_event_id("scheduled", cause.event_id),
            job_id=entry.job_id,
            tenant=entry.tenant,
            occurred_at=cause.occurred_at,
            next_run_at=entry.next_due,
            reason=reason,
            cause_event_id=cause.event_id,
        )
    ]


def on_event(
    entry: TimerEntry | None,
    event: Event,
    now: datetime,  # noqa: ARG001
    queue: QueueSettings | None = None,
) -> Outcome:
    """Evolve a job's timer entry by one consumed event; may decide follow-up events (retries).

    ``now`` is unused today: decisions use the events' own times, so a replay of the log decides the same.
    ``queue``: a Recuro queue job's queue settings in force, whose retries a failure follows.
    """
    match event:
        case JobCreated() | JobPushed() if entry is not None:
            # Created already: a repeat (a create under an Idempotency-Key taken over, decision 0019) changes nothing.
            return entry, []
        case JobCreated():
            return _define(None, event, event.integer_id)
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
                    retry_of=event.retry_of,
                    webhook_id=event.webhook_id,
                ),
                [],
            )
        case JobUpdated():
            return _define(entry, event, entry.integer_id if entry is not None else None)
        case JobPaused() if entry is not None:
            return entry.model_copy(update={"paused": True}), []
        case JobResumed() if entry is not None:
            schedule = schedule_of(entry)
            if schedule is None:
                return entry.model_copy(update={"paused": False}), []
            resumed = entry.model_copy(
                update={"paused": False, "next_due": resumed_due(schedule, entry.next_due, event.occurred_at)}
            )
            return resumed, _armed(resumed, event, "resumed")
        case JobDeleted():
            return None, []
        case JobSucceeded() | JobFailed() if entry is not None and event.outcome.run_id in entry.in_flight:
            return _after_run(entry, event, queue)
        case JobRunCancelled() if entry is not None and event.run_id in entry.in_flight:
            # Not sent (its job deleted or paused in the hand-over window): no result will come for it.
            settled = entry.model_copy(update={"in_flight": tuple(r for r in entry.in_flight if r != event.run_id)})
            return (None if settled.done else settled), []
        case _:
            return entry, []


def _after_run(entry: TimerEntry, event: JobSucceeded | JobFailed, queue: QueueSettings | None) -> Outcome:
    """Settle a finished run and decide what follows it (chronohook/retries.py, decisions 0016 and 0034): nothing, a
    retry (a retry slot, or for Recuro a new job), a dead letter, or the end of a Recuro chain on its original."""
    outcome = event.outcome
    at = outcome.finished_at
    settled = entry.model_copy(update={"in_flight": tuple(r for r in entry.in_flight if r != outcome.run_id)})
    left = None if settled.done else settled
    # Attempt numbers count across a Recuro retry chain (each retry is a new job).
    attempt = max(outcome.attempt, entry.attempt_number)
    if isinstance(event, JobFailed) and _superseded(entry, outcome.run_id):
        # A newer occurrence has been handed out since this one: it is the next try, this chain ends here.
        return left, [_chain_resolved(entry.job_id, entry.tenant, at, "superseded", outcome.run_id, attempt)]
    step = next_step(policy_for(entry.api, entry.retry, queue), attempt, event, at)
    # A Recuro retry chain's outcome is its original job's (final_status, dead_lettered_at are read there).
    owner = entry.retry_of or entry.job_id
    if isinstance(step, Done):
        if entry.retry_of is None:
            return left, []
        return left, [_chain_resolved(owner, entry.tenant, at, "success", outcome.run_id, attempt)]
    if isinstance(step, DeadLetter):
        dead = JobDeadLettered(
            event_id=deterministic_event_id("dead", outcome.run_id),
            job_id=owner,
            tenant=entry.tenant,
            occurred_at=at,
            failed_run_id=outcome.run_id,
            attempts=step.attempts,
            final_status=dead_end(step),  # the chain's: its original's final_status
        )
        return left, [dead]
    scheduled = JobRetryScheduled(
        event_id=deterministic_event_id("retry", outcome.run_id),
        job_id=entry.job_id,
        tenant=entry.tenant,
        occurred_at=at,
        failed_run_id=outcome.run_id,
        next_attempt=step.attempt,
        retry_at=step.at,
        final_status=final_status(step, retry=entry.retry_of is not None),
    )
    if entry.api == "recuro" and entry.integer_id is not None:
        push = _retry_push(entry, outcome.run_id, step.at, step.attempt)
        return left, [scheduled.model_copy(update={"retry_job_id": push.job_id}), push]
    occurrence = entry.occurrence or outcome.due_at  # entries from before ``occurrence`` was kept: as before
    slot = RetrySlot(due_at=step.at, attempt=step.attempt, occurrence=occurrence)
    return settled.model_copy(update={"retry_slot": slot}), [scheduled]


def _retry_push(entry: TimerEntry, failed_run: str, at: datetime, attempt: int) -> JobPushed:
    """A Recuro retry: a new job, linked to the chain's original, sending the original's webhook-id."""
    assert entry.integer_id is not None
    new_integer_id = retry_job_id(entry.integer_id, attempt)
    return JobPushed(
        job_id=recuro_job_key(new_integer_id),
        tenant=entry.tenant,
        occurred_at=at,
        event_id=deterministic_event_id("retry-push", failed_run),
        integer_id=new_integer_id,
        queue=entry.queue or "",
        queue_id=entry.queue_id or 0,
        request=entry.request,
        payload=entry.payload,
        scheduled_at=at,
        callback_url=entry.callback_url,
        retry=entry.retry,
        attempt_number=attempt,
        retry_of=entry.retry_of or entry.job_id,
        webhook_id=entry.webhook_id or _webhook_id_of_run(failed_run),
    )


def _superseded(entry: TimerEntry, run: str) -> bool:
    """True when ``run`` belongs to an older occurrence than the latest one handed out."""
    if entry.occurrence is None:
        return False
    return _webhook_id_of_run(run) != webhook_id(entry.job_id, entry.occurrence)


def _superseded_at_fire(entry: TimerEntry, slot: RetrySlot, newer: datetime) -> JobRetryChainResolved:
    dropped = run_id(entry.job_id, slot.occurrence, slot.attempt)
    return _chain_resolved(
        entry.job_id,
        entry.tenant,
        newer,
        "superseded",
        run_id(entry.job_id, newer, entry.attempt_number),
        slot.attempt - 1,
        event_id=deterministic_event_id("superseded", dropped),
    )


def _chain_resolved(
    job_id: str,
    tenant: str,
    at: datetime,
    resolution: Literal["success", "superseded"],
    run: str,
    attempts: int,
    event_id: str | None = None,
) -> JobRetryChainResolved:
    return JobRetryChainResolved(
        event_id=event_id or deterministic_event_id("chain", resolution, run),
        job_id=job_id,
        tenant=tenant,
        occurred_at=at,
        resolution=resolution,
        run_id=run,
        attempts=attempts,
    )


def fire_entry(
    entry: Entry, now: datetime, lead: timedelta = timedelta(0), queues: QueueLookup = default_settings
) -> tuple[Entry | None, list[Envelope]]:
    """Hand out whatever ``entry`` (a job's or a callback's) has due by ``now + lead``; ``queues``: the Recuro
    queues' settings in force (services/timer/queues.py)."""
    if isinstance(entry, CallbackEntry):
        return fire_callback(entry, now, lead)
    if isinstance(entry, AlertEntry):
        return fire_alert(entry, now, lead)
    if isinstance(entry, PurgeEntry):
        return retention.fire_purge(entry, now)
    if isinstance(entry, QueueAlertsEntry):
        return entry, []  # a queue's alert count: nothing to fire
    return fire(entry, now, lead, queues)


def fire(
    entry: TimerEntry, now: datetime, lead: timedelta = timedelta(0), queues: QueueLookup = default_settings
) -> Outcome:
    """Hand out every attempt of ``entry`` due by ``now + lead``; a paused queue's job is held, not fired."""
    horizon = now + lead
    if entry.paused or held(entry, queues) or (entry.held_until is not None and entry.held_until > horizon):
        return entry, []  # a delivery budget's delay holds it too, until its instant (decision 0028)
    emitted: list[Envelope] = []
    if entry.retry_slot is not None and entry.next_due is not None and entry.next_due <= horizon:
        # The newest occurrence wins: an older occurrence's pending retry is dropped, never run beside it.
        emitted.append(_superseded_at_fire(entry, entry.retry_slot, entry.next_due))
        entry = entry.model_copy(update={"retry_slot": None})
    if entry.retry_slot is not None and entry.retry_slot.due_at <= horizon:
        slot = entry.retry_slot
        due = _due(entry, slot.due_at, slot.occurrence, slot.attempt, entry.next_due, now)
        entry = entry.model_copy(update={"retry_slot": None, "in_flight": (*entry.in_flight, due.run_id)})
        emitted.append(due)
    if entry.next_due is not None and entry.next_due <= horizon:
        schedule = schedule_of(entry)
        occurrence = entry.next_due
        if schedule is not None and occurrence < now - MISFIRE_THRESHOLD and entry.held_until is None:
            entry, caught_up = _catch_up(entry, schedule, now)
            emitted.extend(caught_up)
        else:
            # On time, or late by less than the misfire threshold: this occurrence runs, and so will each one after it
            # (while the timer is up none is skipped; each has its own run id, so none runs twice).
            following = schedule.next_after(occurrence) if schedule is not None else None
            due = _due(entry, occurrence, occurrence, entry.attempt_number, following, now)
            entry = entry.model_copy(
                update={"next_due": following, "in_flight": (*entry.in_flight, due.run_id), "occurrence": occurrence}
            )
            emitted.append(due)
    if entry.held_until is not None and any(isinstance(e, JobDue) for e in emitted):
        entry = entry.model_copy(update={"held_until": None})  # the delay is spent
    return entry, apply_queue_settings(entry, emitted, queues)


# Missed occurrences counted one by one at most (a seconds-field schedule down for a day misses 86,400).
MISSED_COUNT_CAP = 1000


def _catch_up(entry: TimerEntry, schedule: Schedule, now: datetime) -> tuple[TimerEntry, list[Envelope]]:
    """The timer was down: its next occurrence is more than the misfire threshold late. Every occurrence from it to
    the latest at or before ``now`` was missed; the schedule's policy runs the latest once (``latest``) or none
    (``skip``), and the job runs next at the first occurrence after ``now``. Told in an ``OccurrencesMissed``."""
    assert entry.next_due is not None
    first = entry.next_due
    latest = schedule.latest_at_or_before(now)
    following = schedule.next_after(now)
    fired = latest if schedule.catch_up == "latest" else None
    missed = OccurrencesMissed(
        # The same missed run on a replay of this step: keyed by the job and its first missed occurrence.
        event_id=deterministic_event_id("missed", webhook_id(entry.job_id, first)),
        job_id=entry.job_id,
        tenant=entry.tenant,
        occurred_at=now,
        missed_from=first,
        missed_to=latest,
        count=schedule.count_between(first, latest, MISSED_COUNT_CAP),
        policy=schedule.catch_up,
        fired=fired,
        next_run_at=following,
    )
    if fired is None:
        return entry.model_copy(update={"next_due": following}), [missed]
    due = _due(entry, fired, fired, entry.attempt_number, following, now)
    caught_up = entry.model_copy(
        update={"next_due": following, "in_flight": (*entry.in_flight, due.run_id), "occurrence": fired}
    )
    return caught_up, [missed, due]


def _due(
    entry: TimerEntry,
    due_at: datetime,
    occurrence: datetime,
    attempt: int,
    next_run_at: datetime | None,
    now: datetime,
) -> JobDue:
    rid = run_id(entry.job_id, occurrence, attempt)
    # Delayed by the tenant's delivery budget: sent at the instant it allowed, and saying by how much.
    held = entry.held_until if entry.held_until is not None and entry.held_until > due_at else None
    return JobDue(
        event_id=deterministic_event_id("due", rid),
        job_id=entry.job_id,
        tenant=entry.tenant,
        occurred_at=now,
        run_id=rid,
        due_at=held or due_at,
        planned_at=None if held is None else due_at,
        delayed_by_ms=0 if held is None else to_ms(held) - to_ms(due_at),
        attempt=attempt,
        request=entry.request,
        callback_url=entry.callback_url,
        next_run_at=next_run_at,
        webhook_id=entry.webhook_id or webhook_id(entry.job_id, occurrence),
    )
