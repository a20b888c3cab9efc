"""Dead letters' retention, decided by the timer as pure functions (time passed in): when a Recuro job's retries run
out it is kept for its queue's ``dlq_retention_days``, then purged (``JobPurged``), unless it is replayed or deleted
first.

* When the timer decides a dead letter (a chain's last failure, in the last job's partition), it stamps the
  ``JobDeadLettered`` with ``purge_at``: dead-lettered + the queue's ``dlq_retention_days`` as they stand then. A
  retention changed later applies to later dead letters.
* The ``JobDeadLettered`` is keyed by the chain's original job. Consuming it, the timer arms a ``PurgeEntry`` keyed
  ``dlq:<job id>`` in that job's partition: where ``DeadLetterReplayed`` and a user's ``JobPurged`` arrive too, so
  the instance that owns the entry is the one that sees them, and cancels it.
* At ``purge_at`` the entry fires one ``JobPurged`` (reason ``retention``) with a deterministic id, and goes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from chronohook.ids import deterministic_event_id
from schemas.changelog import Entry, PurgeEntry, TimerEntry
from schemas.events import DeadLetterReplayed, Envelope, JobDeadLettered, JobPurged, QueueSettings

PURGE_KEY_PREFIX = "dlq:"
DEFAULT_SETTINGS = QueueSettings()

RetentionDecision = tuple[dict[str, Entry | None], list[Envelope]]


def purge_key(job_id: str) -> str:
    """The changelog key of a dead letter's retention entry, in the partition of the job's events."""
    return PURGE_KEY_PREFIX + job_id


def purge_at(dead_lettered_at: datetime, settings: QueueSettings) -> datetime:
    return dead_lettered_at + timedelta(days=settings.dlq_retention_days)


def settings_of(entry: TimerEntry | None, queues: Callable[[str, str], QueueSettings] | None) -> QueueSettings | None:
    """The settings whose retention a dead letter of ``entry``'s job takes: its queue's in force (Recuro's
    defaults without a lookup); None for a job in no Recuro queue."""
    if entry is None or entry.api != "recuro" or entry.queue is None:
        return None
    return queues(entry.tenant, entry.queue) if queues is not None else DEFAULT_SETTINGS


def stamp(emitted: list[Envelope], settings: QueueSettings | None) -> list[Envelope]:
    """The events decided, with each Recuro dead letter's ``purge_at`` set from its queue's ``settings`` (None:
    not a queue job, nothing to keep). ``failed_no_retries`` (retries off) is not a dead letter: not stamped."""
    if settings is None:
        return emitted
    return [
        e.model_copy(update={"purge_at": purge_at(e.occurred_at, settings)})
        if isinstance(e, JobDeadLettered) and e.final_status == "dead_lettered" and e.purge_at is None
        else e
        for e in emitted
    ]


def concerns(event: Envelope) -> bool:
    """True for the events this module decides on (the timer's hook routes them here)."""
    return isinstance(event, JobDeadLettered | DeadLetterReplayed | JobPurged)


def on_event(lookup: Callable[[str], Entry | None], event: Envelope) -> RetentionDecision:
    """Arm a dead letter's purge, or cancel it; a purge also makes the timer forget the job's own entry."""
    key = purge_key(event.job_id)
    match event:
        case JobDeadLettered() if event.purge_at is not None:
            entry = PurgeEntry(
                job_id=event.job_id,
                tenant=event.tenant,
                dead_lettered_at=event.occurred_at,
                purge_at=event.purge_at,
            )
            return ({} if lookup(key) == entry else {key: entry}), []
        case DeadLetterReplayed():
            return ({key: None} if lookup(key) is not None else {}), []
        case JobPurged():
            gone: dict[str, Entry | None] = {k: None for k in (key, event.job_id) if lookup(k) is not None}
            return gone, []
    return {}, []


def fire_purge(entry: PurgeEntry, now: datetime) -> tuple[PurgeEntry | None, list[Envelope]]:
    """At ``purge_at``, the dead letter is purged; before it, nothing happens."""
    if entry.purge_at > now:
        return entry, []
    purged = JobPurged(
        event_id=deterministic_event_id("dlq-purge", entry.job_id, int(entry.dead_lettered_at.timestamp() * 1000)),
        job_id=entry.job_id,
        tenant=entry.tenant,
        occurred_at=now,
        reason="retention",
    )
    return None, [purged]
