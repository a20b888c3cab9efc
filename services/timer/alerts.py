"""Recuro's alerts, decided by the timer as pure functions of (entry, event): which run raises a ``warning``, a
``failure`` or a ``recovery``, and when an alert's POST is tried again or given up. The executor only sends it, to
the tenant's alert destination as it stands at send time (decision 0020).

A cron counts its failures in a row in its own ``TimerEntry`` (``consecutive_failures``), which the changelog
keeps across restarts. The first failure in a row raises a ``warning``; the failure that makes ``alert_threshold``
in a row raises a ``failure`` (with a threshold of 1, the first failure is that one: a ``failure``, no warning);
further failures raise nothing; the first success after any of them raises a ``recovery``. Only a result for a
run in flight counts, so a redelivered result raises nothing twice.

Queues with ``alerts_enabled`` are not alerted yet: their jobs' outcomes arrive in as many partitions as jobs, and
a count across them needs a record keyed by queue (see decision 0020, "Queues"). ``queue_alert_hook`` marks
where that count would start.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from chronohook.ids import deterministic_event_id
from schemas.changelog import AlertEntry, TimerEntry
from schemas.events import (
    Alert,
    AlertAbandoned,
    AlertDelivered,
    AlertDeliveryFailed,
    AlertDue,
    AlertRaised,
    AlertRetryScheduled,
    Envelope,
    JobFailed,
    JobSucceeded,
)
from services.timer.callbacks import CALLBACK_RETRY_DELAYS

AlertKind = Literal["warning", "failure", "recovery"]
# An alert's POST is retried like a completion callback: 5 s, 30 s, 2 min, 10 min, 30 min, then abandoned.
ALERT_RETRY_DELAYS: tuple[float, ...] = CALLBACK_RETRY_DELAYS

AlertOutcome = tuple[AlertEntry | None, list[Envelope]]


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
    aid = alert_id(outcome.run_id)
    raised = AlertRaised(
        event_id=deterministic_event_id("alert", outcome.run_id),
        job_id=before.job_id,
        tenant=before.tenant,
        occurred_at=result.occurred_at,
        alert_id=aid,
        alert=alert,
    )
    entry = AlertEntry(alert_id=aid, job_id=before.job_id, tenant=before.tenant, alert=alert)
    # The result's own time, not the clock's: a replay of the same step decides the same events.
    entry, due = _hand_out(entry, result.occurred_at, result.occurred_at)
    return after, entry, [raised, *due]


def queue_alert_hook(entry: TimerEntry, result: JobSucceeded | JobFailed) -> list[Envelope]:  # noqa: ARG001
    """Where a queue's alerts (``alerts_enabled``) would start: nothing yet (decision 0020, "Queues")."""
    return []


def on_alert_result(entry: AlertEntry | None, result: AlertDelivered | AlertDeliveryFailed) -> AlertOutcome:
    """An executor reports an attempt: done, retried later, or abandoned (last delay passed, or no destination)."""
    if entry is None or entry.due_at is not None or result.attempt != entry.attempt:
        # A redelivered or stale result (the attempt was settled already): nothing changes.
        return entry, []
    if isinstance(result, AlertDelivered):
        return None, []
    base = dict(job_id=entry.job_id, tenant=entry.tenant, occurred_at=result.occurred_at, alert_id=entry.alert_id)
    if result.no_destination or entry.attempt > len(ALERT_RETRY_DELAYS):
        abandoned = AlertAbandoned(
            **base,
            event_id=deterministic_event_id("alert-abandoned", entry.alert_id),
            attempts=entry.attempt,
            error_message=result.error_message,
        )
        return None, [abandoned]
    retry_at = result.occurred_at + timedelta(seconds=ALERT_RETRY_DELAYS[entry.attempt - 1])
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
