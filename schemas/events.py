"""Frozen event models. Every event shares one envelope; ``type`` discriminates.

All events of every job go to one log topic, ``<prefix>.job-events``, keyed by ``job_id``: the partition keeps
each job's events in causal order (ingest -> timer -> executor -> timer), which the projector and any auditor
replaying the log rely on. Producers: ingest (JobCreated, JobPushed, JobUpdated, JobPaused, JobResumed,
JobDeleted), timer (JobScheduled, OccurrencesMissed, JobDue, JobRetryScheduled, JobDeadLettered, JobPushed for Recuro
retries, the callback decisions CallbackDue, CallbackRetryScheduled, CallbackAbandoned, the alert decisions, and
QueueOutcome, keyed by a queue rather than a job), executor (JobSucceeded, JobFailed, CallbackSucceeded,
CallbackFailed). Every record carries a ``type`` header so consumers skip others without decoding.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
Api = Literal["quedup", "recuro", "recuro_cron"]
FailureReason = Literal[
    "timeout",
    "connection_error",
    "dns_error",
    "ssl_error",
    "http_client_error",
    "http_server_error",
    "invalid_url",
    "assertion_failed",
    "limit_exceeded",
    "unknown",
]


# What a scheduled job does about occurrences the timer missed while it was down (decision 0025).
CatchUp = Literal["latest", "skip"]
TIMEZONE_DOC = "The IANA time zone ``schedule`` is read in (its local wall-clock times); UTC by default."
CATCH_UP_DOC = (
    "After the timer was down: ``latest`` fires the most recent missed occurrence once, ``skip`` fires none "
    "(OccurrencesMissed records either)."
)
NEXT_RUN_AT_DOC = (
    "The first run as ingest answered it (the same Schedule.next_after the timer uses), for the read model's first "
    "value; the timer's JobScheduled and JobDue decide from then on. None on version-1 records."
)

# Recuro's ``final_status`` vocabulary, defined here once: the events carry it, the read model, the API answers and
# the completion callbacks copy it; ``chronohook.retries.final_status`` decides it (decision 0034).
# How a job that failed for good ended (JobDeadLettered v2).
DeadEnd = Literal["dead_lettered", "failed_no_retries"]
# How a Recuro retry chain ended (QueueOutcome): a success at any attempt, or a dead end.
ChainOutcome = Literal["success", DeadEnd]
# Where one job record stands after a run: ``retrying`` (an original whose retry is scheduled) and
# ``failed_with_retries`` (a retry job whose own attempt failed) besides a chain's outcome.
FinalStatus = Literal["success", "retrying", "failed_with_retries", DeadEnd]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Envelope(Frozen):
    """Fields every event carries.

    ``schema_version`` is per event type: a model's default is its type's current version (1 unless the model
    says otherwise). A type at version n > 1 has the upcasters 1 -> 2 ... n-1 -> n in ``schemas/upcasters.py`` and
    a frozen copy of each older model in ``schemas/legacy.py`` (docs/events.md, "Versioning").
    """

    event_id: str = Field(description="Unique and deterministic where the event can be re-derived.")
    job_id: str = Field(description="Kafka key; every event of a job lands in the same partition.")
    tenant: str
    occurred_at: AwareDatetime
    schema_version: int = 1


class SuccessAssertion(Frozen):
    """A check on the response; every one must pass for a 2xx run to succeed (Recuro's success_assertions)."""

    type: Literal["status_code_equals", "response_time_under_ms", "body_contains"]
    value: str


class HttpRequestSpec(Frozen):
    """What to send, and how to judge the answer. ``body`` is the exact text sent; JSON payloads are serialised
    once, at ingest."""

    method: HttpMethod
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    timeout_seconds: float = 30.0
    assertions: tuple[SuccessAssertion, ...] = ()
    sensitive_headers: tuple[str, ...] = Field(
        default=(),
        description="Header names sealed and masked besides the defaults (Authorization, Proxy-Authorization, Cookie, "
        "X-Api-Key): the job's own and its queue's at push (decision 0044). A sensitive header's value is sealed "
        "(``chs1:<key id>:...``, opened by the executor just before it sends); older records hold clear values.",
    )


class QueueSettings(Frozen):
    """A Recuro queue's settings, with Recuro's defaults; a job takes the settings in force when it runs."""

    is_active: bool = True
    timeout_seconds: int = Field(default=30, ge=1, le=300)
    retries_enabled: bool = True
    retry_delays: tuple[int, ...] = Field(default=(60, 1800, 10800), max_length=10)
    success_assertions: tuple[SuccessAssertion, ...] = Field(default=(), max_length=10)
    alerts_enabled: bool = False
    max_parallelism: int | None = Field(default=None, ge=1)
    dlq_retention_days: Literal[3, 7, 14, 30] = 14
    sensitive_headers: tuple[str, ...] = Field(
        default=(),
        description="Header names sealed and masked in this queue's jobs besides the defaults (decision 0044).",
    )


class RetryPolicy(Frozen):
    """Seconds to wait before each retry; an empty list means no retries."""

    delays: tuple[float, ...] = ()


class JobCreated(Envelope):
    """A named job (QuedUp job or Recuro cron): one-off at ``run_at``/now, or recurring on ``schedule``.

    Version 2 (decision 0025): ``timezone``, ``catch_up`` and ``next_run_at``; a version-1 record reads as UTC,
    ``latest`` and no ``next_run_at``."""

    type: Literal["JobCreated"] = "JobCreated"
    api: Api
    name: str
    request: HttpRequestSpec
    schema_version: int = 2
    schedule: str | None = None
    timezone: str = Field(default="UTC", description=TIMEZONE_DOC)
    catch_up: CatchUp = Field(default="latest", description=CATCH_UP_DOC)
    next_run_at: AwareDatetime | None = Field(default=None, description=NEXT_RUN_AT_DOC)
    run_at: AwareDatetime | None = None
    callback_url: str | None = None
    retry: RetryPolicy = RetryPolicy()
    active: bool = True
    integer_id: int | None = Field(default=None, description="Recuro cron id.")
    alert_threshold: int | None = Field(default=None, description="Recuro cron: failures in a row that alert.")


class JobPushed(Envelope):
    """A one-off job pushed onto a Recuro queue (also each retry of one, as a new job)."""

    type: Literal["JobPushed"] = "JobPushed"
    api: Literal["recuro"] = "recuro"
    integer_id: int
    queue: str
    queue_id: int
    request: HttpRequestSpec
    payload: dict[str, object] | None = None
    scheduled_at: AwareDatetime
    delay_seconds: int = 0
    callback_url: str | None = None
    retry: RetryPolicy = RetryPolicy()
    attempt_number: int = 1
    retry_of: str | None = Field(
        default=None, description="A retry's: the retry chain's original job, which carries the chain's outcome."
    )
    webhook_id: str | None = Field(
        default=None,
        description="A retry's: the chain's webhook-id (the original's), sent on every attempt of the chain.",
    )


class JobUpdated(Envelope):
    """The full new definition of a named job after a PATCH; it re-arms the job, even one that had finished.

    Version 2 (decision 0025): ``timezone``, ``catch_up`` and ``next_run_at``, as ``JobCreated``."""

    type: Literal["JobUpdated"] = "JobUpdated"
    schema_version: int = 2
    api: Api = "quedup"
    name: str
    request: HttpRequestSpec
    schedule: str | None = None
    timezone: str = Field(default="UTC", description=TIMEZONE_DOC)
    catch_up: CatchUp = Field(default="latest", description=CATCH_UP_DOC)
    next_run_at: AwareDatetime | None = Field(default=None, description=NEXT_RUN_AT_DOC)
    run_at: AwareDatetime | None = None
    callback_url: str | None = None
    retry: RetryPolicy = RetryPolicy()
    active: bool = True
    alert_threshold: int | None = Field(default=None, description="Recuro cron: failures in a row that alert.")


# Who paused or resumed a job: its tenant (the APIs), or an operator (``chronohook tenants suspend|resume``,
# decision 0030), whose resume restarts only what an operator paused.
PausedBy = Literal["tenant", "operator"]


class JobPaused(Envelope):
    type: Literal["JobPaused"] = "JobPaused"
    by: PausedBy = "tenant"


class JobResumed(Envelope):
    type: Literal["JobResumed"] = "JobResumed"
    by: PausedBy = "tenant"


class JobDeleted(Envelope):
    type: Literal["JobDeleted"] = "JobDeleted"


class JobScheduled(Envelope):
    """The timer armed a scheduled job (cron) for ``next_run_at``: after its create, an update, or a resume. Only
    scheduled jobs get it: a one-off's instant is the one its create or push carries. Then each ``JobDue`` carries
    the occurrence after it; ``OccurrencesMissed`` after downtime."""

    type: Literal["JobScheduled"] = "JobScheduled"
    next_run_at: AwareDatetime = Field(description="The next occurrence, as Schedule.next_after decided it.")
    reason: Literal["created", "updated", "resumed"]
    cause_event_id: str = Field(description="The event the timer decided it from (its event_id derives from it).")


class OccurrencesMissed(Envelope):
    """After downtime the timer reached a scheduled job's occurrences more than the misfire threshold (60 s) late:
    those from ``missed_from`` to ``missed_to`` were missed, and the job's ``catch_up`` policy decided. ``latest``:
    ``fired`` is ``missed_to``, run once now (its ``JobDue`` follows); ``skip``: ``fired`` is None. Either way the job
    runs next at ``next_run_at``."""

    type: Literal["OccurrencesMissed"] = "OccurrencesMissed"
    missed_from: AwareDatetime = Field(description="The first occurrence missed.")
    missed_to: AwareDatetime = Field(description="The last occurrence missed (the latest at or before now).")
    count: int = Field(description="Occurrences missed, counted up to 1,000: 1,000 means at least that many.")
    policy: CatchUp
    fired: AwareDatetime | None = Field(description="The occurrence run to catch up (latest), or None (skip).")
    next_run_at: AwareDatetime = Field(description="The first occurrence after now.")


class JobDue(Envelope):
    """The timer hands one attempt to the executors. Self-contained: executors keep no state."""

    type: Literal["JobDue"] = "JobDue"
    run_id: str = Field(description="Deterministic per (job, occurrence, attempt): the receiver's idempotency key.")
    due_at: AwareDatetime
    attempt: int = 1
    request: HttpRequestSpec
    callback_url: str | None = None
    next_run_at: AwareDatetime | None = Field(default=None, description="The occurrence after this one.")
    webhook_id: str | None = Field(
        default=None,
        description="The Standard Webhooks `webhook-id`: the same on every retry of one occurrence (for a Recuro "
        "retry chain, the original job's). Absent on older events: derived from run_id without its attempt.",
    )
    queue: str | None = Field(default=None, description="The Recuro queue the job runs in, if any.")
    queue_id: int | None = None
    max_parallelism: int | None = Field(
        default=None, description="The queue's bound on its jobs in flight across all executors; None: unbounded."
    )
    planned_at: AwareDatetime | None = Field(
        default=None,
        description="Set when the tenant's delivery budget delayed this attempt (decision 0028): the instant it was "
        "due before the delay; ``due_at`` is then the instant the budget allowed. None: not delayed.",
    )
    delayed_by_ms: int = Field(default=0, description="``due_at`` minus ``planned_at`` in ms; 0 when not delayed.")


class RunOutcome(Frozen):
    run_id: str
    attempt: int
    due_at: AwareDatetime
    started_at: AwareDatetime
    finished_at: AwareDatetime
    duration_ms: float
    request_headers: dict[str, str]
    request_body: str | None
    response_status: int | None = None
    response_headers: dict[str, str] = Field(default_factory=dict)
    response_body: str | None = None
    response_truncated: bool = False
    callback_url: str | None = None
    planned_at: AwareDatetime | None = Field(
        default=None, description="The JobDue's ``planned_at``: set when the tenant's delivery budget delayed it."
    )


class JobSucceeded(Envelope):
    type: Literal["JobSucceeded"] = "JobSucceeded"
    outcome: RunOutcome


class JobFailed(Envelope):
    type: Literal["JobFailed"] = "JobFailed"
    outcome: RunOutcome
    failure_reason: FailureReason
    error_message: str | None = None


class JobRetryScheduled(Envelope):
    """A failed attempt will be tried again at ``retry_at`` (for Recuro as the new job ``retry_job_id``)."""

    type: Literal["JobRetryScheduled"] = "JobRetryScheduled"
    failed_run_id: str
    next_attempt: int
    retry_at: AwareDatetime
    retry_job_id: str | None = None
    final_status: FinalStatus | None = Field(
        default=None,
        description="Where the failed job stands, as the timer decided it (decision 0034): ``retrying`` (a job "
        "whose own retry is scheduled), ``failed_with_retries`` (a Recuro retry job: its own attempt failed). None on "
        "records written before it: the same rule decides it from the job on read.",
    )


class JobDeadLettered(Envelope):
    """Every attempt failed (or retries are off): the job ends as failed, as ``final_status`` says. A Recuro retry
    chain's is keyed by the chain's original job (``failed_run_id`` is then the last retry's run).

    Version 2: ``final_status`` replaces version 1's ``retries_enabled`` (true: ``dead_lettered``; false:
    ``failed_no_retries``, which is no dead letter), so the event says how the job ended instead of a policy
    flag every reader had to translate."""

    type: Literal["JobDeadLettered"] = "JobDeadLettered"
    schema_version: int = 2
    failed_run_id: str
    attempts: int
    final_status: DeadEnd = Field(
        description="How the job ended: ``dead_lettered`` (every attempt failed; a Recuro job is listed as a dead "
        "letter), or ``failed_no_retries`` (it failed with retries off: no dead letter)."
    )
    purge_at: AwareDatetime | None = Field(
        default=None,
        description="A Recuro dead letter's end: dead-lettered + its queue's dlq_retention_days as they stood then, "
        "when the timer purges it (JobPurged) unless it is replayed or deleted first. None: not kept as a dead letter.",
    )


class JobRetryChainResolved(Envelope):
    """A retry chain ended without a dead letter. ``success``: a retry of a Recuro job succeeded; keyed by the
    chain's original job, whose ``final_status`` becomes ``success``. ``superseded``: a newer occurrence of a
    scheduled job was handed out while an older one's retries were pending; that older one is not tried again."""

    type: Literal["JobRetryChainResolved"] = "JobRetryChainResolved"
    resolution: Literal["success", "superseded"]
    run_id: str = Field(description="The run that resolved it: the retry that succeeded, or the newer occurrence's.")
    attempts: int = Field(description="Attempts made in the chain.")


class CallbackDue(Envelope):
    """The timer hands one attempt of a completion callback to the executors. Self-contained, like ``JobDue``.

    Keyed by the job's id, so a callback's whole story sits in the job's partition and history."""

    type: Literal["CallbackDue"] = "CallbackDue"
    callback_id: str = Field(
        description="``cb:`` + the run's id: the same on every attempt, sent as X-Chronohook-Callback-Id."
    )
    run_id: str = Field(description="The run the callback reports.")
    url: str
    body: str = Field(description="The exact JSON text POSTed; built once, when the run completed.")
    attempt: int = 1
    due_at: AwareDatetime


class CallbackSucceeded(Envelope):
    """A callback attempt got a 2xx answer."""

    type: Literal["CallbackSucceeded"] = "CallbackSucceeded"
    callback_id: str
    attempt: int
    started_at: AwareDatetime
    duration_ms: float
    response_status: int


class CallbackFailed(Envelope):
    """A callback attempt got no 2xx answer (or none at all); the timer decides whether to try again."""

    type: Literal["CallbackFailed"] = "CallbackFailed"
    callback_id: str
    attempt: int
    started_at: AwareDatetime
    duration_ms: float
    response_status: int | None = None
    failure_reason: FailureReason
    error_message: str | None = None


class CallbackRetryScheduled(Envelope):
    """A failed callback will be tried again at ``retry_at``."""

    type: Literal["CallbackRetryScheduled"] = "CallbackRetryScheduled"
    callback_id: str
    next_attempt: int
    retry_at: AwareDatetime


class CallbackAbandoned(Envelope):
    """Every attempt of a callback failed: it is not sent again."""

    type: Literal["CallbackAbandoned"] = "CallbackAbandoned"
    callback_id: str
    attempts: int
    error_message: str | None = None


class QueueSettingsChanged(Envelope):
    """A Recuro queue's full new settings (``PATCH /api/queues/{name}``). Not on the job log: on the compacted
    ``<prefix>.queue-settings`` topic, keyed (``job_id``) by ``queue:<tenant>:<queue_id>``, the latest per queue
    kept; every timer instance reads all of it, the projector folds it into the queue's row (decision 0015)."""

    type: Literal["QueueSettingsChanged"] = "QueueSettingsChanged"
    queue: str
    queue_id: int
    settings: QueueSettings


class QueueOutcome(Envelope):
    """A Recuro queue job's final outcome, for its queue's alerts (``alerts_enabled``, decision 0020). Emitted by the
    timer that decided it (the job's partition), only while the queue's settings in force have ``alerts_enabled``;
    keyed (``job_id``) by the queue, ``queue:<tenant>:<queue_id>``, so that every outcome of one queue reaches the
    timer instance that owns the queue's count. One per chain: a success at any attempt, or the chain's end as
    ``dead_lettered`` or ``failed_no_retries``; an attempt that will be retried has none."""

    type: Literal["QueueOutcome"] = "QueueOutcome"
    queue: str
    queue_id: int
    outcome: ChainOutcome
    source_job_id: str = Field(description="The job whose chain ended (a Recuro retry chain's original job).")
    run_id: str = Field(description="The run that ended the chain: an alert it raises is ``alert:<run_id>``.")
    attempts: int = Field(description="Attempts made in the chain.")
    response_status: int | None = None
    failure_reason: FailureReason | None = None
    error_message: str | None = None


class Alert(Frozen):
    """What an alert says (Recuro's ``warning``, ``failure``, ``recovery``): the body's content, built by the timer."""

    kind: Literal["warning", "failure", "recovery"]
    job_id: str = Field(description="The job whose run raised it (for a queue, the job that ended its streak).")
    cron_id: int | None = Field(default=None, description="The Recuro cron, if the alert is a cron's.")
    name: str | None = None
    queue: str | None = Field(default=None, description="The Recuro queue, if the alert is a queue's.")
    queue_id: int | None = None
    consecutive_failures: int = Field(description="Failures in a row, counting the run; 0 on a recovery.")
    alert_threshold: int = Field(description="Failures in a row that raise a ``failure``.")
    run_id: str = Field(description="The run that caused the alert.")
    response_status: int | None = None
    failure_reason: FailureReason | None = None
    error_message: str | None = None
    raised_at: AwareDatetime


class AlertRaised(Envelope):
    """The timer decided an alert, from a run's result; listed at ``GET /api/alerts``. A cron's is keyed by the cron
    (in its history); a queue's by the queue, ``queue:<tenant>:<queue_id>``, where the queue's count is kept."""

    type: Literal["AlertRaised"] = "AlertRaised"
    alert_id: str = Field(description="``alert:`` + the run's id: one alert per run at most, stable on redelivery.")
    alert: Alert


class AlertDue(Envelope):
    """The timer hands one attempt of an alert's POST to the executors, which send it to the tenant's alert
    destination as it stands at send time (``PUT /api/alert-destination``)."""

    type: Literal["AlertDue"] = "AlertDue"
    alert_id: str
    alert: Alert
    attempt: int = 1
    due_at: AwareDatetime


class AlertDelivered(Envelope):
    """An alert's POST got a 2xx answer."""

    type: Literal["AlertDelivered"] = "AlertDelivered"
    alert_id: str
    attempt: int
    started_at: AwareDatetime
    duration_ms: float
    response_status: int
    format: Literal["json", "slack"]


class AlertDeliveryFailed(Envelope):
    """An alert's POST got no 2xx answer, or the tenant has no alert destination (``no_destination``: not retried)."""

    type: Literal["AlertDeliveryFailed"] = "AlertDeliveryFailed"
    alert_id: str
    attempt: int
    started_at: AwareDatetime
    duration_ms: float
    response_status: int | None = None
    failure_reason: FailureReason
    error_message: str | None = None
    no_destination: bool = False


class AlertRetryScheduled(Envelope):
    """A failed alert POST will be tried again at ``retry_at`` (the callbacks' delays)."""

    type: Literal["AlertRetryScheduled"] = "AlertRetryScheduled"
    alert_id: str
    next_attempt: int
    retry_at: AwareDatetime


class AlertAbandoned(Envelope):
    """An alert is not sent again: every attempt failed, or there is no destination to send it to."""

    type: Literal["AlertAbandoned"] = "AlertAbandoned"
    alert_id: str
    attempts: int
    error_message: str | None = None


class AlertDestinationSet(Envelope):
    """A tenant's alert URL (``PUT /api/alert-destination``); keyed (``job_id``) by ``alert-destination:<tenant>``."""

    type: Literal["AlertDestinationSet"] = "AlertDestinationSet"
    url: str
    format: Literal["json", "slack"] = "json"


class AlertDestinationCleared(Envelope):
    """A tenant stopped its alerts' delivery (``DELETE /api/alert-destination``); same key as the set."""

    type: Literal["AlertDestinationCleared"] = "AlertDestinationCleared"


class DeadLetterReplayed(Envelope):
    """A dead-lettered Recuro job was replayed as the fresh job ``replay_job_id`` (attempt 1, due at once; its own
    ``JobPushed`` is in the same transaction). Keyed by the dead-lettered job: it leaves the dead letters, and its
    retention purge is cancelled. The replay's id is derived from the dead letter, so a repeated replay names the
    same job."""

    type: Literal["DeadLetterReplayed"] = "DeadLetterReplayed"
    replay_job_id: str
    replay_integer_id: int


class JobPurged(Envelope):
    """A dead-lettered job is gone, with its runs and the rest of its retry chain, from every read; the timer forgets
    it. ``deleted``: ``DELETE /api/dead-letters/{id}``; ``queue_purged``: ``DELETE /api/dead-letters?queue=``;
    ``retention``: the timer, once the queue's ``dlq_retention_days`` have passed since it was dead-lettered."""

    type: Literal["JobPurged"] = "JobPurged"
    reason: Literal["deleted", "queue_purged", "retention"]


# -- issue 14, the timer (decision 0028): firing failures and cancelled attempts -------------------------------
# The most of an error's text a JobFireFailed carries.
FIRE_ERROR_MAX_CHARS = 500


class JobFireFailed(Envelope):
    """The timer could not fire the job's entry (it could not be read, or firing it raised): the entry is disarmed,
    so it never fires again until the job is redefined (a PATCH arms it afresh), and the timer goes on with the
    others. ``entry_key`` is the timer's key of the entry (the job id, or a callback's or alert's id)."""

    type: Literal["JobFireFailed"] = "JobFireFailed"
    entry_key: str
    error: str = Field(max_length=FIRE_ERROR_MAX_CHARS, description="The error, cut to 500 characters.")


class JobRunCancelled(Envelope):
    """The executor did not send the attempt ``run_id``: its job was deleted or paused in the hand-over window. The
    timer stops waiting for its result (it leaves the entry's runs in flight)."""

    type: Literal["JobRunCancelled"] = "JobRunCancelled"
    run_id: str
    reason: Literal["deleted", "paused"]


Event = Annotated[
    JobCreated
    | JobPushed
    | JobUpdated
    | JobPaused
    | JobResumed
    | JobDeleted
    | JobDue
    | JobSucceeded
    | JobFailed
    | JobRetryScheduled
    | JobDeadLettered
    | JobRetryChainResolved
    | CallbackDue
    | CallbackSucceeded
    | CallbackFailed
    | CallbackRetryScheduled
    | CallbackAbandoned
    | QueueSettingsChanged
    | QueueOutcome
    | AlertRaised
    | AlertDue
    | AlertDelivered
    | AlertDeliveryFailed
    | AlertRetryScheduled
    | AlertAbandoned
    | AlertDestinationSet
    | AlertDestinationCleared
    | DeadLetterReplayed
    | JobPurged
    | JobScheduled
    | OccurrencesMissed
    | JobFireFailed
    | JobRunCancelled,
    Field(discriminator="type"),
]

# Every concrete event class, read off the union so the two cannot drift apart.
EVENT_TYPES: tuple[type[Envelope], ...] = get_args(get_args(Event)[0])


def schema_version_of(model: type[Envelope]) -> int:
    """The current version of an event type: its model's ``schema_version`` default."""
    version = model.model_fields["schema_version"].default
    assert isinstance(version, int) and version >= 1, f"{model.__name__}: schema_version must default to n >= 1"
    return version


# Event type name -> its current schema version, e.g. {"JobCreated": 1, ..., "JobDeadLettered": 2, ...}.
CURRENT_VERSIONS: dict[str, int] = {model.__name__: schema_version_of(model) for model in EVENT_TYPES}
