"""Recuro queues' settings as the timer applies them (decision 0015). Pure: no I/O, no clock.

Every timer instance keeps every queue's latest settings in a ``QueueBook``, read whole from the compacted
``<prefix>.queue-settings`` topic: a queue's jobs are spread over every partition, so over every instance. A job
takes the settings in force when it fires (its request's timeout and success assertions, the queue's bound on jobs
in flight) or fails (its retries: ``settings_for`` is what the retry decision reads). A paused queue
(``is_active: false``) holds its jobs: they keep their entries but are neither armed nor fired, and are armed
again, in due order, when the queue resumes. Holding is derived from the settings, never stored in an entry, so a
timer restarted from its changelog holds exactly what it held before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from chronohook.kafka.records import Record
from schemas import decode_event
from schemas.changelog import Entry, TimerEntry
from schemas.events import Envelope, JobDue, QueueSettings, QueueSettingsChanged
from schemas.topics import queue_of_settings_key
from services.timer.errors import TimerError

# (tenant, queue name) -> the queue's settings in force (Recuro's defaults for a queue never configured).
QueueLookup = Callable[[str, str], QueueSettings]
DEFAULT_SETTINGS = QueueSettings()


class QueueRecordError(TimerError):
    """A record of the queue-settings topic that is no queue's settings nor tombstone: set aside."""


def default_settings(_tenant: str, _queue: str) -> QueueSettings:
    return DEFAULT_SETTINGS


class QueueBook:
    """Every queue's settings in force, by tenant and queue name: a few hundred bytes per configured queue. A deleted
    queue's tombstone forgets it (decision 0030), so the book holds live queues only."""

    def __init__(self) -> None:
        self._by_queue: dict[tuple[str, str], QueueSettings] = {}
        self._names: dict[tuple[str, int], str] = {}  # (tenant, queue id) -> name: what a tombstone's key names

    def __len__(self) -> int:
        return len(self._by_queue)

    def settings_for(self, tenant: str, queue: str) -> QueueSettings:
        """The queue's settings, Recuro's defaults when it was never configured. A ``QueueLookup``."""
        return self._by_queue.get((tenant, queue), DEFAULT_SETTINGS)

    def apply(self, change: QueueSettingsChanged) -> bool:
        """Take the queue's new settings; True when they resume a paused queue (its held jobs are to be armed)."""
        before = self.settings_for(change.tenant, change.queue)
        self._by_queue[(change.tenant, change.queue)] = change.settings
        self._names[(change.tenant, change.queue_id)] = change.queue
        return not before.is_active and change.settings.is_active

    def forget(self, tenant: str, queue_id: int) -> str | None:
        """Forget a deleted queue's settings (a queue of its name made later starts with Recuro's defaults); its name
        when it was paused, so the jobs it held are to be armed (none should be: a queue holding jobs is not deleted,
        but a push may race the delete)."""
        name = self._names.pop((tenant, queue_id), None)
        if name is None:
            return None
        settings = self._by_queue.pop((tenant, name), DEFAULT_SETTINGS)
        return None if settings.is_active else name

    def take(self, record: Record) -> tuple[str, str] | None:
        """Apply one record of the queue-settings topic: a ``QueueSettingsChanged``, or a tombstone (no value) of a
        deleted queue. The (tenant, queue) whose held jobs are to be armed again, if any; raises (QueueRecordError,
        the codec's errors, ValueError) for a record that is neither (to be set aside)."""
        if record.value is None:
            tenant, queue_id = queue_of_settings_key(record.key)
            name = self.forget(tenant, queue_id)
            return None if name is None else (tenant, name)
        event = decode_event(record.value)
        if not isinstance(event, QueueSettingsChanged):
            raise QueueRecordError(f"a {event.type} on the queue settings topic")
        return (event.tenant, event.queue) if self.apply(event) else None


def held(entry: Entry, settings_for: QueueLookup) -> bool:
    """True for a Recuro queue job whose queue is paused: it stays, unfired, until the queue resumes."""
    return (
        isinstance(entry, TimerEntry)
        and entry.queue is not None
        and entry.api == "recuro"
        and not settings_for(entry.tenant, entry.queue).is_active
    )


def wake_at(entry: Entry, settings_for: QueueLookup) -> datetime | None:
    """When the timer should look at ``entry`` again: never while its queue holds it."""
    return None if held(entry, settings_for) else entry.wake_at()


def in_queue(entry: Entry, tenant: str, queue: str) -> bool:
    return isinstance(entry, TimerEntry) and entry.tenant == tenant and entry.queue == queue


def with_queue_settings(due: JobDue, entry: TimerEntry, settings: QueueSettings) -> JobDue:
    """``due`` as its queue's settings in force now have it: the queue's timeout and success assertions (Recuro's
    push API takes neither per job, so the queue's are the job's), and the queue with its parallelism bound."""
    request = due.request.model_copy(
        update={"timeout_seconds": float(settings.timeout_seconds), "assertions": settings.success_assertions}
    )
    return due.model_copy(
        update={
            "request": request,
            "queue": entry.queue,
            "queue_id": entry.queue_id,
            "max_parallelism": settings.max_parallelism,
        }
    )


def apply_queue_settings(entry: TimerEntry, emitted: Iterable[Envelope], settings_for: QueueLookup) -> list[Envelope]:
    """Every ``JobDue`` fired for a Recuro queue job, with its queue's settings applied; other events as they are."""
    if entry.queue is None or entry.api != "recuro":
        return list(emitted)
    settings = settings_for(entry.tenant, entry.queue)
    return [with_queue_settings(e, entry, settings) if isinstance(e, JobDue) else e for e in emitted]
