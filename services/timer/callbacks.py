"""Completion callbacks, decided by the timer as pure functions of (entry, event): when a run completes, what the
POST says, when a failed POST is tried again, when it is given up. The executor only sends (docs/callbacks.md).

The body is built here once, from the job's timer entry and the run's result, and every attempt sends the same
text: the receiver can deduplicate on ``X-Chronohook-Callback-Id`` (also its ``webhook-id``), and the executor's
signature covers those exact bytes. The body is versioned (``CALLBACK_VERSION``): fields are only ever added under
one version; a change of meaning or a removal is a new version.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from chronohook.clock import iso8601_offset
from chronohook.ids import deterministic_event_id
from chronohook.retries import CALLBACK_RETRY_DELAYS, Done, delivery_retry_at, final_status
from schemas.changelog import CallbackEntry, TimerEntry
from schemas.events import (
    CallbackAbandoned,
    CallbackDue,
    CallbackFailed,
    CallbackRetryScheduled,
    CallbackSucceeded,
    Envelope,
    FinalStatus,
    JobDeadLettered,
    JobFailed,
    JobRetryScheduled,
    JobSucceeded,
)

CallbackOutcome = tuple[CallbackEntry | None, list[Envelope]]

# The body's version (docs/callbacks.md), an integer like the alerts' body: fields may be added within a version;
# a change of meaning or a removal makes the next one.
CALLBACK_VERSION = 1


def callback_id(run_id: str) -> str:
    """Stable across attempts and re-derivations: the receiver's key to deduplicate on, and the entry's key."""
    return f"cb:{run_id}"


# ``final_status`` in a callback: Recuro's vocabulary (schemas/events.py), plus ``failed`` for a failed run that no
# decision followed (an occurrence superseded by a newer one).
CallbackFinalStatus = FinalStatus | Literal["failed"]


def run_final_status(
    entry: TimerEntry, result: JobSucceeded | JobFailed, decided: Sequence[Envelope]
) -> CallbackFinalStatus:
    """Where the job named in the callback (``entry``'s, a Recuro retry's own) stands after this run: copied from the
    decision the timer made with the run and carried on the job's own event (``JobRetryScheduled``,
    ``JobDeadLettered``), else decided by the same rule as the read model's (``chronohook.retries.final_status``),
    so the callback and ``GET /api/jobs/{id}`` say the same (decision 0034)."""
    for event in decided:
        if (
            isinstance(event, JobRetryScheduled | JobDeadLettered)
            and event.job_id == entry.job_id
            and event.final_status
        ):
            return event.final_status
    step = Done(attempts=result.outcome.attempt) if isinstance(result, JobSucceeded) else None
    return final_status(step, retry=entry.retry_of is not None) or "failed"


def callback_body(
    entry: TimerEntry, result: JobSucceeded | JobFailed, decided: Sequence[Envelope] = ()
) -> dict[str, Any]:
    """The documented body (docs/callbacks.md) of the callback reporting ``result``, a run of ``entry``'s job;
    ``decided``: what the timer decided with the result (a retry, a dead letter), for ``final_status``."""
    o = result.outcome
    success = isinstance(result, JobSucceeded)
    failure = result if isinstance(result, JobFailed) else None
    return {
        "version": CALLBACK_VERSION,
        "type": "job.completed",
        "job_id": entry.integer_id if entry.integer_id is not None else entry.job_id,
        "name": entry.name,
        "queue_id": entry.queue_id,
        "queue": entry.queue,
        "status": "completed" if success else "failed",
        "final_status": run_final_status(entry, result, decided),
        "success": success,
        # Attempt numbers count across a Recuro retry chain (each retry is a new job).
        "attempt_number": max(o.attempt, entry.attempt_number),
        "scheduled_at": iso8601_offset(o.due_at),
        "run": {
            "run_id": o.run_id,
            "status_code": o.response_status,
            "duration_ms": o.duration_ms,
            "started_at": iso8601_offset(o.started_at),
            "executed_at": iso8601_offset(o.finished_at),
            "failure_reason": failure.failure_reason if failure else None,
            "error_message": failure.error_message if failure else None,
            "response_body": o.response_body,
        },
    }


def on_run_completed(
    entry: TimerEntry, result: JobSucceeded | JobFailed, decided: Sequence[Envelope] = ()
) -> CallbackOutcome:
    """A run of ``entry``'s job completed: its callback (if the run has a callback_url) is due at once. ``decided``:
    the events the timer decided with the result (its retry or dead letter), reported as ``final_status``."""
    url = result.outcome.callback_url
    if not url:
        return None, []
    cb = CallbackEntry(
        callback_id=callback_id(result.outcome.run_id),
        job_id=entry.job_id,
        tenant=entry.tenant,
        run_id=result.outcome.run_id,
        url=url,
        body=json.dumps(callback_body(entry, result, decided)),
        attempt=1,
    )
    # The result's own time, not the clock's: a replay of the same step decides the same event.
    return _hand_out(cb, result.occurred_at, result.occurred_at)


def on_callback_result(cb: CallbackEntry | None, result: CallbackSucceeded | CallbackFailed) -> CallbackOutcome:
    """An executor reports an attempt: done, retried later, or abandoned after the last delay."""
    if cb is None or cb.due_at is not None or result.attempt != cb.attempt:
        # A redelivered or stale result (the attempt was settled already): nothing changes.
        return cb, []
    if isinstance(result, CallbackSucceeded):
        return None, []
    base = dict(job_id=cb.job_id, tenant=cb.tenant, occurred_at=result.occurred_at, callback_id=cb.callback_id)
    retry_at = delivery_retry_at(CALLBACK_RETRY_DELAYS, cb.attempt, result.occurred_at)
    if retry_at is None:
        abandoned = CallbackAbandoned(
            **base,
            event_id=deterministic_event_id("callback-abandoned", cb.callback_id),
            attempts=cb.attempt,
            error_message=result.error_message,
        )
        return None, [abandoned]
    scheduled = CallbackRetryScheduled(
        **base,
        event_id=deterministic_event_id("callback-retry", cb.callback_id, cb.attempt),
        next_attempt=cb.attempt + 1,
        retry_at=retry_at,
    )
    return cb.model_copy(update={"attempt": cb.attempt + 1, "due_at": retry_at}), [scheduled]


def fire_callback(cb: CallbackEntry, now: datetime, lead: timedelta = timedelta(0)) -> CallbackOutcome:
    """Hand out the callback's next attempt if it is due by ``now + lead`` (the executor waits out the lead)."""
    if cb.due_at is None or cb.due_at > now + lead:
        return cb, []
    return _hand_out(cb, cb.due_at, now)


def _hand_out(cb: CallbackEntry, due_at: datetime, now: datetime) -> CallbackOutcome:
    due = CallbackDue(
        event_id=deterministic_event_id("callback-due", cb.callback_id, cb.attempt),
        job_id=cb.job_id,
        tenant=cb.tenant,
        occurred_at=now,
        callback_id=cb.callback_id,
        run_id=cb.run_id,
        url=cb.url,
        body=cb.body,
        attempt=cb.attempt,
        due_at=due_at,
    )
    return cb.model_copy(update={"due_at": None}), [due]
