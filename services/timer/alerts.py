"""Recuro's alerts, decided by the timer as pure functions of (entry, event): which run raises a ``warning``, a
``failure`` or a ``recovery``, and when an alert's POST is tried again or given up. The executor only sends it, to
the tenant's alert destination as it stands at send time (decision 0020).

A cron counts its failures in a row in its own ``TimerEntry`` (``consecutive_failures``), which the changelog
keeps across restarts. The first failure in a row raises a ``warning``; the failure that makes ``alert_threshold``
in a row raises a ``failure`` (with a threshold of 1, the first failure is that one: a ``failure``, no warning);
further failures raise nothing; the first success after any of them raises a ``recovery``. Only a result for a
run in flight counts, so a redelivered result raises nothing twice.

A Recuro queue with ``alerts_enabled`` counts its jobs' *final* outcomes: a chain that succeeds (at any attempt)
is a success, one that ends ``dead_lettered`` or ``failed_no_retries`` one failure, an attempt that will be retried
nothing; the threshold is 1 (no ``warning``). Its jobs are spread over every partition, so the count cannot sit
in any job's entry: ``queue_alert_hook``, in the partition of the job whose chain ended and in the same step (one
transaction), emits a ``QueueOutcome`` keyed by the queue (``queue:<tenant>:<queue_id>``), only while the queue's
settings in force have ``alerts_enabled``. The log brings it to the partition of that key, whose timer counts it
in the queue's ``QueueAlertsEntry`` (``on_queue_outcome``) and raises the alert there, with its ``AlertEntry``:
the delivery path is the crons' one, keyed by the queue instead of the cron.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from chronohook.ids import deterministic_event_id
from chronohook.retries import ALERT_RETRY_DELAYS, delivery_retry_at
from schemas.changelog import AlertEntry, QueueAlertsEntry, TimerEntry
from schemas.events import (
    Alert,
    AlertAbandoned,
    AlertDelivered,
    AlertDeliveryFailed,
    AlertDue,
    AlertRaised,
    AlertRetryScheduled,
    ChainOutcome,
    Envelope,
    JobDeadLettered,
    JobFailed,
    JobSucceeded,
    QueueOutcome,
    QueueSettings,
)
from schemas.topics import queue_settings_key

AlertKind = Literal["warning", "failure", "recovery"]

AlertOutcome = tuple[AlertEntry | None, list[Envelope]]
# A queue has no alert_threshold: Recuro's default for crons, 1 (the first final failure is a ``failure``).
QUEUE_ALERT_THRESHOLD = 1


def alert_id(run_id: str) -> str:
    """At most one alert per run: stable across redeliveries and replays, the entry's key and the receiver's id."""
    return f"alert:{run_id}"


def next_alert(threshold: int, failures_before: int, success: bool) -> tuple[int, AlertKind | None]:
    """The failures in a row after a run, and the alert the run raises (None: none)."""
    if success:
        return 0, ("recovery" if failures_before > 0 else None)
    failures = failures_before + 1
    if failures == threshold:
        return failures, "failure"
    if failures == 1:
        return failures, "warning"
    return failures, None


def on_cron_run(
    before: TimerEntry, after: TimerEntry | None, result: JobSucceeded | JobFailed
) -> tuple[TimerEntry | None, AlertEntry | None, list[Envelope]]:
    """A run of a job in flight completed: count it, and raise the alert it crosses (its POST due at once).

    ``before`` is the job's entry when the result arrived, ``after`` the entry the rest of the timer decided.
    Jobs without an ``alert_threshold`` (all but Recuro crons that asked for alerts) pass through unchanged.
    """
    threshold = before.alert_threshold
    if threshold is None:
        return after, None, []
    success = isinstance(result, JobSucceeded)
    failures, kind = next_alert(threshold, before.consecutive_failures, success)
    if after is not None and after.consecutive_failures != failures:
        after = after.model_copy(update={"consecutive_failures": failures})
    if kind is None:
        return after, None, []
    outcome = result.outcome
    failed = result if isinstance(result, JobFailed) else None
    alert = Alert(
        kind=kind,
        job_id=before.job_id,
        cron_id=before.integer_id if before.api == "recuro_cron" else None,
        name=before.name,
        queue=before.queue,
        queue_id=before.queue_id,
        consecutive_failures=failures,
        alert_threshold=threshold,
        run_id=outcome.run_id,
        response_status=outcome.response_status,
        failure_reason=failed.failure_reason if failed else None,
        error_message=failed.error_message if failed else None,
        raised_at=result.occurred_at,
    )
    entry, emitted = _raise(alert, outcome.run_id, before.job_id, before.tenant, result.occurred_at)
    return after, entry, emitted


def _raise(alert: Alert, run_id: str, key: str, tenant: str, at: datetime) -> tuple[AlertEntry, list[Envelope]]:
    """``AlertRaised`` under ``key`` (a cron's id or a queue's key: the executor's answers come back to that
    partition), its pending delivery, and its first ``AlertDue``. ``at`` is the causing event's own time, not the
    clock's: a replay of the same step decides the same events."""
    aid = alert_id(run_id)
    raised = AlertRaised(
        event_id=deterministic_event_id("alert", run_id),
        job_id=key,
        tenant=tenant,
        occurred_at=at,
        alert_id=aid,
        alert=alert,
    )
    entry, due = _hand_out(AlertEntry(alert_id=aid, job_id=key, tenant=tenant, alert=alert), at, at)
    return entry, [raised, *due]


def final_outcome(result: JobSucceeded | JobFailed, decided: list[Envelope]) -> tuple[ChainOutcome, int] | None:
    """How a run of a Recuro queue job ended its chain, and the attempts the chain made; None while it goes on.

    ``decided`` is what the timer decided on the result (services/timer/domain.py): a success is always final (no
    retry follows it), a failure only when it ended the job (the dead letter's ``final_status``: ``dead_lettered``
    or ``failed_no_retries``).
    """
    if isinstance(result, JobSucceeded):
        return "success", result.outcome.attempt
    dead = next((e for e in decided if isinstance(e, JobDeadLettered)), None)
    if dead is None:
        return None  # retried (or superseded): not an outcome of the queue yet
    return dead.final_status, dead.attempts


def queue_alert_hook(
    entry: TimerEntry, result: JobSucceeded | JobFailed, decided: list[Envelope], settings: QueueSettings | None
) -> list[Envelope]:
    """A run of ``entry``'s job (in flight) completed and ``decided`` follows: a ``QueueOutcome`` for its queue's
    count when this ends the chain and the queue's ``settings`` in force have ``alerts_enabled``; else nothing."""
    if entry.api != "recuro" or entry.queue is None or entry.queue_id is None:
        return []
    if settings is None or not settings.alerts_enabled:
        return []
    final = final_outcome(result, decided)
    if final is None:
        return []
    outcome, attempts = final
    failed = result if isinstance(result, JobFailed) else None
    return [
        QueueOutcome(
            event_id=deterministic_event_id("queue-outcome", result.outcome.run_id),
            job_id=queue_settings_key(entry.tenant, entry.queue_id),
            tenant=entry.tenant,
            occurred_at=result.occurred_at,
            queue=entry.queue,
            queue_id=entry.queue_id,
            outcome=outcome,
            source_job_id=entry.retry_of or entry.job_id,
            run_id=result.outcome.run_id,
            attempts=max(attempts, entry.attempt_number),
            response_status=result.outcome.response_status,
            failure_reason=failed.failure_reason if failed else None,
            error_message=failed.error_message if failed else None,
        )
    ]


def on_queue_outcome(
    entry: QueueAlertsEntry | None, event: QueueOutcome
) -> tuple[QueueAlertsEntry | None, AlertEntry | None, list[Envelope]]:
    """Count one final outcome of a queue's jobs (in the partition of the queue's key), and raise the alert it
    crosses, its POST due at once. The count's entry goes when the count is back to zero."""
    if entry is not None and entry.last_run_id == event.run_id:
        return entry, None, []  # the same outcome twice: counted already
    success = event.outcome == "success"
    before = entry.consecutive_failures if entry is not None else 0
    failures, kind = next_alert(QUEUE_ALERT_THRESHOLD, before, success)
    counted = (
        None
        if failures == 0
        else QueueAlertsEntry(
            tenant=event.tenant,
            queue=event.queue,
            queue_id=event.queue_id,
            consecutive_failures=failures,
            last_run_id=event.run_id,
        )
    )
    if kind is None:
        return counted, None, []
    alert = Alert(
        kind=kind,
        job_id=event.source_job_id,
        queue=event.queue,
        queue_id=event.queue_id,
        consecutive_failures=failures,
        alert_threshold=QUEUE_ALERT_THRESHOLD,
        run_id=event.run_id,
        response_status=event.response_status,
        failure_reason=event.failure_reason,
        error_message=event.error_message,
        raised_at=event.occurred_at,
    )
    # Keyed by the queue, like the outcome.
    pending, emitted = _raise(alert, event.run_id, event.job_id, event.tenant, event.occurred_at)
    return counted, pending, emitted


def on_alert_result(entry: AlertEntry | None, result: AlertDelivered | AlertDeliveryFailed) -> AlertOutcome:
    """An executor reports an attempt: done, retried later, or abandoned (last delay passed, or no destination)."""
    if entry is None or entry.due_at is not None or result.attempt != entry.attempt:
        # A redelivered or stale result (the attempt was settled already): nothing changes.
        return entry, []
    if isinstance(result, AlertDelivered):
        return None, []
    base = dict(job_id=entry.job_id, tenant=entry.tenant, occurred_at=result.occurred_at, alert_id=entry.alert_id)
    # An alert's POST is retried like a completion callback (chronohook/retries.py), then abandoned.
    retry_at = delivery_retry_at(ALERT_RETRY_DELAYS, entry.attempt, result.occurred_at)
    if result.no_destination or retry_at is None:
        abandoned = AlertAbandoned(
            **base,
            event_id=deterministic_event_id("alert-abandoned", entry.alert_id),
            attempts=entry.attempt,
            error_message=result.error_message,
        )
        return None, [abandoned]
    scheduled = AlertRetryScheduled(
        **base,
        event_id=deterministic_event_id("alert-retry", entry.alert_id, entry.attempt),
        next_attempt=entry.attempt + 1,
        retry_at=retry_at,
    )
    return entry.model_copy(update={"attempt": entry.attempt + 1, "due_at": retry_at}), [scheduled]


def fire_alert(entry: AlertEntry, now: datetime, lead: timedelta = timedelta(0)) -> AlertOutcome:
    """Hand out the alert's next attempt if it is due by ``now + lead`` (the executor waits out the lead)."""
    if entry.due_at is None or entry.due_at > now + lead:
        return entry, []
    return _hand_out(entry, entry.due_at, now)


def _hand_out(entry: AlertEntry, due_at: datetime, now: datetime) -> tuple[AlertEntry, list[Envelope]]:
    due = AlertDue(
        event_id=deterministic_event_id("alert-due", entry.alert_id, entry.attempt),
        job_id=entry.job_id,
        tenant=entry.tenant,
        occurred_at=now,
        alert_id=entry.alert_id,
        alert=entry.alert,
        attempt=entry.attempt,
        due_at=due_at,
    )
    return entry.model_copy(update={"due_at": None}), [due]
