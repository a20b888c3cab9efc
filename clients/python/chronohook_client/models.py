"""The API's answers as typed models (field names as the API spells them; times parsed to aware datetimes).

Every model keeps fields it does not know (``extra="allow"``): a newer server that adds a field does not break an
older client. tests/unit/test_client_models.py checks each model against the server's OpenAPI document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


# -- paging -----------------------------------------------------------------------------------------------------------
class PageLinks(Model):
    first: str | None = None
    last: str | None = None
    prev: str | None = None
    next: str | None = None


class PageMeta(Model):
    """Laravel's page meta (``?page=&per_page=``)."""

    current_page: int
    from_: int | None = Field(default=None, alias="from")
    last_page: int
    path: str
    per_page: int
    to: int | None = None
    total: int


class Page(Model, Generic[T]):
    """One page of a Recuro list, as Laravel answers it."""

    data: list[T]
    links: PageLinks
    meta: PageMeta


class CursorMeta(Model):
    """Laravel's cursor-paginator meta (``?cursor=&per_page=``)."""

    path: str
    per_page: int
    next_cursor: str | None = None
    prev_cursor: str | None = None


class CursorPage(Model, Generic[T]):
    """One page of a keyset-paged Recuro list (``GET /api/jobs``)."""

    data: list[T]
    links: PageLinks
    meta: CursorMeta


# -- Recuro jobs ------------------------------------------------------------------------------------------------------
class PushedJob(Model):
    """The answer to a push (``POST /api/jobs``), one per job of a batch."""

    success: bool = True
    queue_id: int
    job_id: int
    scheduled_at: datetime
    message: str = ""


class PushedBatch(Model):
    success: bool = True
    count: int
    jobs: list[PushedJob]


class Run(Model):
    """One attempt of a Recuro job, as ``GET /api/jobs/{id}`` lists it."""

    run_id: str
    attempt_number: int
    response_status: int | None
    response_body: str | None
    response_headers: dict[str, str]
    request_headers: dict[str, str]
    request_body: str | None
    started_at: datetime
    executed_at: datetime
    duration_ms: float
    error_message: str | None
    failure_reason: str | None


class RecuroRun(Run):
    """One attempt, as the runs lists answer it (``/api/jobs/{id}/runs``, ``/api/crons/{id}/runs``)."""

    job_id: int | None
    status: str
    due_at: datetime
    response_truncated: bool
    delayed_by_ms: int = 0


class RecuroJob(Model):
    """A Recuro job (``GET /api/jobs/{id}``): its status, its retry chain's outcome and its runs."""

    id: int
    queue_id: int | None
    queue: str | None
    url: str
    method: str
    headers: dict[str, str]
    payload: Any = None
    callback_url: str | None
    status: str
    final_status: str | None
    attempt_number: int
    is_retry: bool
    retry_of: int | None
    has_pending_retry: bool
    retry_job_id: int | None
    scheduled_at: datetime | None
    created_at: datetime
    dead_lettered_at: datetime | None
    runs: list[Run] = Field(default_factory=list)


class RecuroJobEvent(Model):
    """One entry of a Recuro job's or cron's history."""

    id: str
    type: str
    occurred_at: datetime
    run_id: str | None
    schema_version: int
    payload: dict[str, Any]


# -- QuedUp jobs ------------------------------------------------------------------------------------------------------
class Job(Model):
    """A QuedUp job (``/jobs``): ids are ``job_...`` strings."""

    id: str
    name: str
    method: str
    url: str
    body: str
    headers: dict[str, str]
    schedule: str | None
    timezone: str
    catch_up: str
    next_run_at: datetime | None
    status: str


class QuedupRun(Model):
    id: str
    job_id: str
    attempt: int
    status: str
    due_at: datetime
    started_at: datetime
    executed_at: datetime
    duration_ms: float
    response_status: int | None
    response_headers: dict[str, str]
    response_body: str | None
    response_truncated: bool
    request_headers: dict[str, str]
    request_body: str | None
    error_message: str | None
    failure_reason: str | None
    delayed_by_ms: int = 0


class QuedupJobEvent(RecuroJobEvent):
    job_id: str


# -- crons ------------------------------------------------------------------------------------------------------------
class Assertion(Model):
    """A success assertion: ``status_code_equals``, ``response_time_under_ms`` or ``body_contains``."""

    type: str
    value: str


class CreatedCron(Model):
    """The answer to ``POST /api/crons``."""

    id: int
    name: str
    cron_expression: str
    timezone: str
    catch_up: str
    next_run_at: datetime | None
    is_active: bool


class Cron(Model):
    """A Recuro cron (``GET /api/crons/{id}``)."""

    id: int
    name: str
    url: str
    method: str
    headers: dict[str, str]
    payload: str | None
    cron_expression: str
    timezone: str
    catch_up: str
    callback_url: str | None
    timeout_seconds: int
    alert_threshold: int | None
    success_assertions: list[Assertion]
    is_active: bool
    next_run_at: datetime | None
    last_run_at: datetime | None
    created_at: datetime
    updated_at: datetime


# -- queues -----------------------------------------------------------------------------------------------------------
class Queue(Model):
    id: int
    name: str
    is_active: bool
    timeout_seconds: int
    retries_enabled: bool
    retry_delays: list[int]
    success_assertions: list[Assertion]
    alerts_enabled: bool
    max_parallelism: int | None
    dlq_retention_days: int
    sensitive_headers: list[str] = []
    created_at: datetime
    updated_at: datetime


class QueueCounts(Model):
    """A queue's jobs by status, exact."""

    pending: int = 0
    processing: int = 0
    completed: int = 0
    failed: int = 0
    total: int = 0


class QueueLateness(Model):
    """How late a window's runs started (``started_at - due_at``), in milliseconds."""

    p50_ms: float
    p95_ms: float
    max_ms: float


class QueueStats(Model):
    """``GET /api/queues/{name}/stats``: counts by status and the runs over a window ending now."""

    name: str
    counts: QueueCounts
    window_s: int
    runs: int
    successes: int
    failures: int
    runs_per_minute: float
    lateness: QueueLateness | None


# -- dead letters -----------------------------------------------------------------------------------------------------
class LastFailure(Model):
    job_id: int
    attempt: int
    failure_reason: str | None
    error_message: str | None
    response_status: int | None
    executed_at: datetime


class DeadLetter(Model):
    job_id: int
    queue: str
    queue_id: int
    method: str
    url: str
    attempts: int
    final_status: str = "dead_lettered"
    dead_lettered_at: datetime
    purge_at: datetime | None
    last_failure: LastFailure | None


class Replayed(PushedJob):
    """A dead letter replayed as a fresh job (``job_id``); ``replay_of`` is the dead letter's id."""

    replay_of: int


class Skipped(Model):
    job_id: int
    reason: str


class BulkReplay(Model):
    success: bool = True
    count: int
    jobs: list[Replayed]
    skipped: list[Skipped]
    remaining: int


class Purge(Model):
    success: bool = True
    purged: int
    job_ids: list[int]
    remaining: int


# -- signing, alerts, health ------------------------------------------------------------------------------------------
class SigningSecret(Model):
    secret: str
    created_at: datetime
    previous_expires_at: datetime | None
    recuro_compat: bool
    recuro_secret: str | None


class AlertDestination(Model):
    url: str
    format: str
    updated_at: datetime


class Alert(Model):
    id: str
    kind: str
    cron_id: int | None
    name: str | None
    queue: str | None
    queue_id: int | None
    consecutive_failures: int
    alert_threshold: int
    run_id: str
    response_status: int | None
    failure_reason: str | None
    error_message: str | None
    raised_at: datetime
    delivery_status: str
    delivery_attempts: int


class Health(Model):
    status: str
    kafka: str | None = None
    database: str | None = None
    services: dict[str, str] | None = None  # /readyz: each watched service, `ok` or `stalled`
    stalled: list[str] | None = None  # /readyz: the stalled processes, named


class VersionInfo(Model):
    version: str
