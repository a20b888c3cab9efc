"""What the timer keeps per pending job and per pending completion callback.

Persisted to the compacted changelog topic: a job's ``TimerEntry`` keyed by its job id, a callback's
``CallbackEntry`` keyed by its callback id (``cb:<run id>``), an alert's ``AlertEntry`` keyed by its alert id
(``alert:<run id>``), all in the partition of the job's events. A Recuro queue's alert count, ``QueueAlertsEntry``,
is keyed by the queue (``queue:<tenant>:<queue_id>``), in that key's partition, with the alerts it raises.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Discriminator, Tag, TypeAdapter

from schemas.events import Alert, Api, CatchUp, HttpRequestSpec, RetryPolicy


class RetrySlot(BaseModel):
    model_config = ConfigDict(frozen=True)

    due_at: AwareDatetime
    attempt: int
    occurrence: AwareDatetime


class TimerEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str
    tenant: str
    api: Api
    request: HttpRequestSpec
    retry: RetryPolicy
    callback_url: str | None = None
    # The job's name (QuedUp jobs, Recuro crons), for the callback body.
    name: str | None = None
    schedule: str | None = None
    # The zone ``schedule`` is read in and what to do about occurrences missed while the timer was down (decision
    # 0025); entries written before them were UTC and ``latest``.
    timezone: str = "UTC"
    catch_up: CatchUp = "latest"
    # The schedule's next occurrence (or the one-off's due time); None once handed out.
    next_due: AwareDatetime | None = None
    retry_slot: RetrySlot | None = None
    paused: bool = False
    # Runs handed to executors whose result has not come back; a result for any other run is ignored.
    in_flight: tuple[str, ...] = ()
    # Recuro pushes: what a retry needs to push the next attempt as a new job.
    integer_id: int | None = None
    queue: str | None = None
    queue_id: int | None = None
    payload: dict[str, object] | None = None
    attempt_number: int = 1
    # A Recuro retry: the chain's original job (which carries the chain's outcome), and the webhook-id that every
    # attempt of the chain sends (the original's).
    retry_of: str | None = None
    webhook_id: str | None = None
    # The latest occurrence handed out: a failure of an older one is superseded, not retried (decision 0016).
    occurrence: AwareDatetime | None = None
    # Recuro cron alerts (services/timer/alerts.py): the threshold, and the failures in a row so far.
    alert_threshold: int | None = None
    consecutive_failures: int = 0
    # The tenant's delivery budget delayed its next attempt to this instant (decision 0028): the attempt's budget
    # is taken, and it fires then, not before. None: not delayed.
    held_until: AwareDatetime | None = None
    # The W3C trace context of the API call that defined the job (decision 0043), while tracing is on: its JobDue
    # continues that trace however long it waits. None: not traced (or written before tracing).
    traceparent: str | None = None

    def wake_at(self) -> AwareDatetime | None:
        """The earliest moment this entry has something to fire."""
        if self.paused:
            return None
        times = [t for t in (self.next_due, self.retry_slot.due_at if self.retry_slot else None) if t]
        if not times:
            return None
        return max(min(times), self.held_until) if self.held_until is not None else min(times)

    @property
    def done(self) -> bool:
        return self.next_due is None and self.retry_slot is None and not self.in_flight


class CallbackEntry(BaseModel):
    """A run's completion callback until it is delivered or abandoned; apart from the job's entry, which a
    one-off job drops as soon as its run is done, and so that a callback body never swells the job's record."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["callback"] = "callback"
    callback_id: str
    job_id: str
    tenant: str
    run_id: str
    url: str
    # The exact JSON text POSTed on every attempt, built once when the run completed.
    body: str
    # The attempt handed out last, or to hand out at ``due_at``.
    attempt: int = 1
    # When to hand out ``attempt``; None while it is with an executor.
    due_at: AwareDatetime | None = None
    # The trace context of the delivery whose result it reports (decision 0043); None: not traced.
    traceparent: str | None = None

    def wake_at(self) -> AwareDatetime | None:
        return self.due_at


class AlertEntry(BaseModel):
    """An alert until its POST is delivered or abandoned; keyed by its alert id (``alert:<run id>``) in the
    partition of the job that raised it, like a callback's entry."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["alert"] = "alert"
    alert_id: str
    job_id: str
    tenant: str
    alert: Alert
    # The attempt handed out last, or to hand out at ``due_at``; ``due_at`` is None while it is with an executor.
    attempt: int = 1
    due_at: AwareDatetime | None = None

    def wake_at(self) -> AwareDatetime | None:
        return self.due_at


class QueueAlertsEntry(BaseModel):
    """A Recuro queue's final failures in a row (``alerts_enabled``, decision 0020), kept while above zero. Keyed by
    the queue, ``queue:<tenant>:<queue_id>``: the key its ``QueueOutcome`` events carry, so one timer instance counts
    every outcome of the queue, whichever partitions its jobs are in. Nothing to fire: it only counts."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["queue_alerts"] = "queue_alerts"
    tenant: str
    queue: str
    queue_id: int
    consecutive_failures: int = 0
    # The run of the last outcome counted: the same outcome again (a duplicate record) counts nothing.
    last_run_id: str | None = None

    def wake_at(self) -> AwareDatetime | None:
        return None


class PurgeEntry(BaseModel):
    """A dead letter's retention: at ``purge_at`` (dead-lettered + the queue's ``dlq_retention_days``) the timer
    purges the job (``JobPurged``), unless a replay or a delete came first. Keyed ``dlq:<job id>`` in the partition
    of the dead-lettered job's events, where its replay and delete arrive too (services/timer/retention.py)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["dlq"] = "dlq"
    job_id: str
    tenant: str
    dead_lettered_at: AwareDatetime
    purge_at: AwareDatetime

    def wake_at(self) -> AwareDatetime | None:
        return self.purge_at


Entry = TimerEntry | CallbackEntry | AlertEntry | PurgeEntry | QueueAlertsEntry


def _kind(value: object) -> str:
    """A changelog value's entry kind: a job's ``TimerEntry`` carries none."""
    if isinstance(value, dict):
        kind = value.get("kind", "timer")
        return kind if isinstance(kind, str) else "?"
    return str(getattr(value, "kind", "timer"))


# Straight from JSON in pydantic-core, the kind read first: 15 us a job's entry where ``json.loads`` and
# ``model_validate`` took 22 (the timer reads one per firing and per result; decision 0036).
_ENTRIES: TypeAdapter[Entry] = TypeAdapter(
    Annotated[
        Annotated[TimerEntry, Tag("timer")]
        | Annotated[CallbackEntry, Tag("callback")]
        | Annotated[AlertEntry, Tag("alert")]
        | Annotated[PurgeEntry, Tag("dlq")]
        | Annotated[QueueAlertsEntry, Tag("queue_alerts")],
        Discriminator(_kind),
    ]
)


def decode_entry(value: bytes | str) -> Entry:
    """A changelog record's value as the entry it holds (any but a job's carries ``kind``); pydantic's
    ValidationError (a ValueError) when it holds none."""
    return _ENTRIES.validate_json(value)
