"""Recuro's queues: the PATCH body and the queue as GET and PATCH answer it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, field_validator

from services.ingest import validation as v
from services.ingest.models import SENSITIVE_DOC, LaravelBool, LaravelInt, Request, SensitiveHeaders, SuccessAssertion

# A retry waits at least a second and at most 30 days (a dead letter is kept 30 days at the longest).
RETRY_DELAY_MAX = 30 * 24 * 3600
RetryDelay = Annotated[LaravelInt, Field(ge=1, le=RETRY_DELAY_MAX)]
_NOT_NULL = (
    "is_active",
    "timeout_seconds",
    "retries_enabled",
    "retry_delays",
    "success_assertions",
    "alerts_enabled",
    "dlq_retention_days",
)


class UpdateQueueRequest(Request):
    """Recuro's PATCH /api/queues/{name}: only the fields present change, each validated with Recuro's range.

    ``max_parallelism: null`` means unlimited; the other fields cannot be null. Unknown fields are ignored. ``""`` is
    as ``null`` (as Laravel's ConvertEmptyStringsToNull makes it); integers and booleans are taken as Laravel's
    ``integer`` and ``boolean`` rules take them (``"300"``; ``1``, ``"0"``).
    """

    BLANK_IS_NULL = (*_NOT_NULL, "max_parallelism")

    is_active: LaravelBool | None = Field(
        default=None, description="false pauses the queue: its jobs are held (not run, not lost) until true again."
    )
    timeout_seconds: LaravelInt | None = Field(default=None, ge=1, le=300, description="HTTP timeout, 1-300 s.")
    retries_enabled: LaravelBool | None = Field(default=None, description="false: a failed job is not retried.")
    retry_delays: Annotated[list[RetryDelay], Field(min_length=1, max_length=10)] | None = Field(
        default=None,
        description="Seconds before each retry, 1 to 10 values, each 1 s to 30 days. To retry never, set "
        "retries_enabled to false.",
        examples=[[60, 1800, 10800]],
    )
    success_assertions: Annotated[list[SuccessAssertion], Field(max_length=10)] | None = Field(
        default=None, description="At most 10; every one must pass, besides a 2xx status, for a run to succeed."
    )
    alerts_enabled: LaravelBool | None = None
    max_parallelism: LaravelInt | None = Field(
        default=None,
        ge=1,
        description="Most of the queue's jobs in flight at once, over every executor; null: no bound.",
    )
    dlq_retention_days: Annotated[Literal[3, 7, 14, 30], BeforeValidator(v.laravel_integer)] | None = Field(
        default=None, description="Days a dead-lettered job is kept: 3, 7, 14 or 30."
    )

    sensitive_headers: SensitiveHeaders | None = Field(
        default=None,
        description=SENSITIVE_DOC.replace("values are", "values in jobs pushed from now on are") + " `null`: none.",
    )

    @field_validator("sensitive_headers")
    @classmethod
    def _none_is_empty(cls, value: list[str] | None) -> list[str]:
        return [] if value is None else value

    @field_validator(*_NOT_NULL)
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Called only for fields the body names: an explicit null of a field every queue has is refused.
        if value is None:
            raise v.RuleError("is required.")
        return value


class QueueAssertion(BaseModel):
    type: str
    value: str


class QueueResponse(BaseModel):
    """A Recuro queue, as GET, PATCH and the list answer it; ``id`` is the ``queue_id`` pushes answer."""

    id: int
    name: str
    is_active: bool
    timeout_seconds: int
    retries_enabled: bool
    retry_delays: list[int]
    success_assertions: list[QueueAssertion]
    alerts_enabled: bool
    max_parallelism: int | None = Field(description="null: unlimited.")
    dlq_retention_days: int
    sensitive_headers: list[str] = Field(
        default_factory=list, description="chronohook extension: header names sealed and masked in its jobs."
    )
    created_at: str
    updated_at: str


class QueueCounts(BaseModel):
    """The queue's jobs by status, exact (retry jobs too: each is a job of its own)."""

    pending: int = 0
    processing: int = 0
    completed: int = 0
    failed: int = 0
    total: int = Field(0, description="Every job of the queue, whatever its status.")


class QueueLateness(BaseModel):
    """How late the window's runs started (``started_at - due_at``), in milliseconds, nearest-rank percentiles.
    Both instants are recorded with microseconds; a run that started early counts as 0."""

    p50_ms: float
    p95_ms: float
    max_ms: float


class QueueStatsResponse(BaseModel):
    """A chronohook extension: one queue's job counts and its runs over a window ending now."""

    name: str
    counts: QueueCounts
    window_s: int = Field(description="The window's length in seconds (the runs executed in its span count).")
    runs: int = Field(description="Runs (attempts) executed in the window.")
    successes: int
    failures: int
    runs_per_minute: float = Field(description="`runs` over the window's minutes.")
    lateness: QueueLateness | None = Field(description="Null when no run was executed in the window.")
