"""Request and response models of both APIs (separate from the events they become)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from schemas.events import FinalStatus
from services.ingest import validation as v

Url = Annotated[StrictStr, Field(max_length=v.URL_MAX), AfterValidator(v.plain_text), AfterValidator(v.valid_url)]
Method = Annotated[StrictStr, AfterValidator(v.http_method)]
QuedupMethod = Annotated[StrictStr, AfterValidator(lambda m: v.http_method(m, v.QUEDUP_METHODS))]
Cron = Annotated[StrictStr, Field(max_length=255), AfterValidator(v.plain_text), AfterValidator(v.cron_expression)]
Rfc3339 = Annotated[StrictStr, AfterValidator(v.rfc3339)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=v.NAME_MAX), AfterValidator(v.plain_text)]
Headers = Annotated[
    dict[StrictStr, StrictStr], BeforeValidator(v.empty_array_as_object), AfterValidator(v.http_headers)
]
# Recuro's headers: also number and boolean values, sent as their JSON text (Laravel's ``array`` rule takes them).
RecuroHeaders = Annotated[
    dict[StrictStr, StrictStr], BeforeValidator(v.scalar_header_values), AfterValidator(v.http_headers)
]
Text = Annotated[StrictStr, AfterValidator(v.body_text)]
# chronohook extension (decision 0044): header names sealed at rest and masked in every answer besides the defaults.
HeaderName = Annotated[StrictStr, Field(min_length=1, max_length=256, pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")]
SensitiveHeaders = Annotated[list[HeaderName], Field(max_length=32)]
SENSITIVE_DOC = (
    "chronohook extension: more header names whose values are encrypted at rest and shown as `***`, besides "
    "Authorization, Proxy-Authorization, Cookie and X-Api-Key (always)."
)
Payload = Annotated[dict[str, Any], BeforeValidator(v.empty_array_as_object), AfterValidator(v.json_payload)]
# Recuro's integers and booleans, as Laravel's ``integer`` and ``boolean`` rules take them ("300", 300.0; 1, "0").
LaravelInt = Annotated[StrictInt, BeforeValidator(v.laravel_integer)]
LaravelBool = Annotated[StrictBool, BeforeValidator(v.laravel_boolean)]
TimeZone = Annotated[StrictStr, Field(max_length=64), AfterValidator(v.time_zone)]
CatchUp = Literal["latest", "skip"]

CRON_DOC = (
    "Cron expression: 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first "
    "(`*/2 * * * * *`), read in `timezone`."
)
TIMEZONE_DOC = (
    "chronohook extension: the IANA time zone the schedule's times are local to, e.g. `America/New_York`; UTC by "
    "default. DST: a local time that does not exist is skipped, a repeated one runs once (docs/api.md)."
)
CATCH_UP_DOC = (
    "chronohook extension: after the timer was down, `latest` (default) runs the most recent missed occurrence "
    "once, `skip` runs none; either way the next occurrence follows as usual."
)


class Request(BaseModel):
    """A request body. ``""`` in a field named by ``BLANK_IS_ABSENT`` means the field was not given (a create, whose
    default then applies); in one named by ``BLANK_IS_NULL``, that it is null (an update, which then clears it or
    sets its default back): clients that send every field, unset ones as empty strings, mean "unset" (Laravel's
    ConvertEmptyStringsToNull does the same for Recuro's)."""

    model_config = ConfigDict(extra="ignore")
    BLANK_IS_ABSENT: ClassVar[tuple[str, ...]] = ()
    BLANK_IS_NULL: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _blank_means_unset(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        blank = {k for k, value in data.items() if isinstance(value, str) and value == ""}
        if not blank:
            return data
        return {
            k: (None if k in cls.BLANK_IS_NULL and k in blank else value)
            for k, value in data.items()
            if not (k in cls.BLANK_IS_ABSENT and k in blank)
        }


# -- QuedUp -----------------------------------------------------------------------------------------------------
def _without_run_at_when_scheduled(data: object) -> object:
    """QuedUp: ``run_at`` is ignored, not even validated, when the body gives a ``schedule``."""
    if isinstance(data, dict) and data.get("schedule") not in (None, ""):
        return {k: value for k, value in data.items() if k != "run_at"}
    return data


class CreateJobRequest(Request):
    """QuedUp's job.CreateJobRequest. ``run_at`` is ignored (not even validated) when ``schedule`` is given; ``""``
    for ``run_at``, ``schedule``, ``timezone`` or ``catch_up`` means the field was not given."""

    BLANK_IS_ABSENT = ("run_at", "schedule", "timezone", "catch_up")

    method: QuedupMethod = Field(description="The HTTP method used when sending the request.", examples=["POST"])
    name: Name = Field(description="A unique name for the job. Used for identification.", examples=["Database Backup"])
    url: Url = Field(description="The URL the job will send a request to.", examples=["https://example.com"])
    body: Text | None = Field(default=None, description="Optional request body to include when sending the job.")
    headers: Headers | None = Field(default=None, description="Optional HTTP headers to send.")
    sensitive_headers: SensitiveHeaders | None = Field(default=None, description=SENSITIVE_DOC)
    run_at: Rfc3339 | None = Field(
        default=None, description="Run once at this RFC 3339 time. Ignored if schedule is provided."
    )
    schedule: Cron | None = Field(default=None, description=CRON_DOC + " Takes precedence over run_at.")
    timezone: TimeZone = Field(default="UTC", description=TIMEZONE_DOC, examples=["America/New_York"])
    catch_up: CatchUp = Field(default="latest", description=CATCH_UP_DOC)

    _run_at_yields_to_schedule = model_validator(mode="before")(_without_run_at_when_scheduled)


class UpdateJobRequest(Request):
    """Partial update: only the fields present change; ``null`` clears ``body``, ``run_at`` or ``schedule``, and
    sets ``timezone`` back to UTC and ``catch_up`` to ``latest``. ``""`` for any of the last four is as ``null``;
    ``run_at`` is ignored (not validated) when the body gives a ``schedule``."""

    BLANK_IS_NULL = ("run_at", "schedule", "timezone", "catch_up")

    method: QuedupMethod | None = None
    name: Name | None = None
    url: Url | None = None
    body: Text | None = None
    headers: Headers | None = None
    sensitive_headers: SensitiveHeaders | None = Field(default=None, description=SENSITIVE_DOC)
    run_at: Rfc3339 | None = None
    schedule: Cron | None = None
    timezone: TimeZone | None = Field(default=None, description=TIMEZONE_DOC)
    catch_up: CatchUp | None = Field(default=None, description=CATCH_UP_DOC)

    _run_at_yields_to_schedule = model_validator(mode="before")(_without_run_at_when_scheduled)


class Job(BaseModel):
    """QuedUp's Job object."""

    id: str = Field(examples=["job_xxx"])
    name: str
    method: str
    url: str
    body: str = Field(description='The request body; "" when the job has none.')
    headers: dict[str, str]
    schedule: str | None
    timezone: str = Field(description="chronohook extension: the IANA zone the schedule is read in.")
    catch_up: CatchUp = Field(description="chronohook extension: the catch-up policy after downtime.")
    next_run_at: str | None = Field(description="The next run (RFC 3339); null once the job is complete.")
    status: Literal["active", "paused", "failed", "completed"]


# -- Recuro -----------------------------------------------------------------------------------------------------
class PushJobRequest(Request):
    """Recuro's POST /api/jobs body. ``""`` for an optional field means it was not given."""

    BLANK_IS_ABSENT = ("method", "headers", "payload", "callback_url", "delay", "run_at")

    queue: Name = Field(description="Queue name. Created automatically if it does not exist.")
    url: Url = Field(description="The URL to send the HTTP request to.")
    method: Method = Field(default="POST", description="GET, POST, PUT, PATCH or DELETE.")
    headers: RecuroHeaders | None = Field(
        default=None,
        description="Sent as request headers. `[]` is none; a number or boolean value is sent as its JSON text.",
    )
    sensitive_headers: SensitiveHeaders | None = Field(default=None, description=SENSITIVE_DOC)
    payload: Payload | None = Field(default=None, description="JSON body sent with the request; `[]` is `{}`.")
    callback_url: Url | None = Field(default=None, description="Receives a POST when the job completes.")
    delay: LaravelInt = Field(
        default=0, ge=0, le=86_400, description='Seconds to wait before running the job; a numeric string ("300") too.'
    )
    run_at: Rfc3339 | None = Field(
        default=None,
        description="chronohook extension: run at this RFC 3339 time (millisecond precision) instead of after "
        "`delay`; a time in the past runs now. Refused with a non-zero `delay`.",
        examples=["2026-11-23T17:00:00.250Z"],
    )

    @field_validator("run_at")
    @classmethod
    def _one_way_to_say_when(cls, value: object, info: ValidationInfo) -> object:
        if value is not None and info.data.get("delay"):
            raise v.RuleError("cannot be combined with delay.")
        return value


class PushJobResponse(BaseModel):
    success: bool = True
    queue_id: int
    job_id: int
    scheduled_at: str
    message: str = "Scheduled successfully"


BATCH_MAX = 1000


class PushJobsBatchRequest(Request):
    """Up to 1,000 jobs in one request. All are validated first: one invalid job rejects the whole batch."""

    jobs: Annotated[list[PushJobRequest], Field(min_length=1, max_length=BATCH_MAX)] = Field(
        description="The jobs, each exactly as POST /api/jobs takes it."
    )


class PushJobsBatchResponse(BaseModel):
    success: bool = True
    count: int
    jobs: list[PushJobResponse] = Field(description="One response per job, in the order of the request.")


class SuccessAssertion(Request):
    type: Literal["status_code_equals", "response_time_under_ms", "body_contains"]
    value: Text

    @model_validator(mode="after")
    def _value_fits_type(self) -> SuccessAssertion:
        v.assertion_value(self.type, self.value)
        return self


class CreateCronRequest(Request):
    """Recuro's POST /api/crons body. ``""`` for an optional field means it was not given."""

    BLANK_IS_ABSENT = (
        "timezone",
        "catch_up",
        "method",
        "headers",
        "payload",
        "callback_url",
        "timeout_seconds",
        "alert_threshold",
        "success_assertions",
        "is_active",
    )

    name: Name
    url: Url
    cron_expression: Cron = Field(description=CRON_DOC)
    timezone: TimeZone = Field(default="UTC", description=TIMEZONE_DOC, examples=["America/New_York"])
    catch_up: CatchUp = Field(default="latest", description=CATCH_UP_DOC)
    method: Method = "POST"
    headers: RecuroHeaders | None = None
    sensitive_headers: SensitiveHeaders | None = Field(default=None, description=SENSITIVE_DOC)
    payload: Text | None = Field(default=None, description="Raw request body (a string, unlike jobs).")
    callback_url: Url | None = None
    timeout_seconds: LaravelInt = Field(default=30, ge=1, le=300)
    alert_threshold: Annotated[Literal[1, 2, 3], BeforeValidator(v.laravel_integer)] | None = None
    success_assertions: list[SuccessAssertion] = Field(default_factory=list, max_length=10)
    is_active: LaravelBool = True


class CronResponse(BaseModel):
    id: int
    name: str
    cron_expression: str
    timezone: str = Field(description="chronohook extension: the IANA zone cron_expression is read in.")
    catch_up: CatchUp = Field(description="chronohook extension: the catch-up policy after downtime.")
    next_run_at: str | None
    is_active: bool


class RunResponse(BaseModel):
    run_id: str
    attempt_number: int
    response_status: int | None
    response_body: str | None
    response_headers: dict[str, str]
    request_headers: dict[str, str]
    request_body: str | None
    started_at: str
    executed_at: str
    duration_ms: float
    error_message: str | None
    failure_reason: str | None


class RecuroJobResponse(BaseModel):
    id: int
    queue_id: int | None
    queue: str | None
    url: str
    method: str
    headers: dict[str, str]
    payload: dict[str, Any] | None
    callback_url: str | None
    status: Literal["pending", "processing", "completed", "failed"]
    final_status: FinalStatus | None = Field(
        description="Set once the job's run ended. On the original: `retrying` while its retry chain runs, then "
        "`success` or `dead_lettered`; `failed_no_retries` when its queue has retries off. On a retry job: "
        "`success`, or `failed_with_retries` when its own attempt failed."
    )
    attempt_number: int = Field(description="1 for the original; each retry job is one more.")
    is_retry: bool
    retry_of: int | None = Field(description="A retry job's: the id of the chain's original job.")
    has_pending_retry: bool = Field(description="On the original: a retry is scheduled and the chain has not resolved.")
    retry_job_id: int | None = Field(description="The retry job scheduled after this job's failure, if any.")
    scheduled_at: str | None
    created_at: str
    dead_lettered_at: str | None = Field(description="On the original: when its retries ran out.")
    runs: list[RunResponse]


class Health(BaseModel):
    status: str
    kafka: str | None = None
    database: str | None = None
    services: dict[str, str] | None = Field(
        default=None,
        description="`/readyz`: each watched service (timer, executor, projector) with a live heartbeat, `ok` or "
        "`stalled` (a process of it made no progress for `CHRONOHOOK_HEARTBEAT_STALE_S`; decision 0042).",
    )
    stalled: list[str] | None = Field(
        default=None, description="`/readyz`: the stalled processes, each as `service (instance): no progress for N s`."
    )


class VersionInfo(BaseModel):
    version: str = Field(description="chronohook's version (its package's), as `chronohook --version` prints it.")


# -- Recuro crons: read and update; runs of every kind of job ----------------------------------------------------
_NOT_NULL = (
    "name",
    "url",
    "cron_expression",
    "timezone",
    "catch_up",
    "method",
    "timeout_seconds",
    "success_assertions",
    "is_active",
)


class UpdateCronRequest(Request):
    """Recuro's PATCH /api/crons/{id}: any create field, validated as at create; only the fields present change.

    ``null`` clears ``headers``, ``payload``, ``callback_url`` and ``alert_threshold``; the other fields cannot be
    null. ``is_active: false`` pauses the cron, ``true`` resumes it (occurrences missed while paused are skipped).
    ``""`` is as ``null`` (as Laravel's ConvertEmptyStringsToNull makes it).
    """

    BLANK_IS_NULL = (*_NOT_NULL, "headers", "payload", "callback_url", "alert_threshold")

    name: Name | None = None
    url: Url | None = None
    cron_expression: Cron | None = None
    timezone: TimeZone | None = Field(default=None, description=TIMEZONE_DOC)
    catch_up: CatchUp | None = Field(default=None, description=CATCH_UP_DOC)
    method: Method | None = None
    headers: RecuroHeaders | None = None
    sensitive_headers: SensitiveHeaders | None = Field(default=None, description=SENSITIVE_DOC)
    payload: Text | None = Field(default=None, description="Raw request body (a string, unlike jobs).")
    callback_url: Url | None = None
    timeout_seconds: LaravelInt | None = Field(default=None, ge=1, le=300)
    alert_threshold: Annotated[Literal[1, 2, 3], BeforeValidator(v.laravel_integer)] | None = None
    success_assertions: Annotated[list[SuccessAssertion], Field(max_length=10)] | None = None
    is_active: LaravelBool | None = None

    @field_validator(*_NOT_NULL)
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Called only for fields the body names: an explicit null of a field every cron has is refused.
        if value is None:
            raise v.RuleError("is required.")
        return value


class CronAssertion(BaseModel):
    type: str
    value: str


class CronDetail(BaseModel):
    """Recuro's cron, as GET, PATCH and the list answer it."""

    id: int
    name: str
    url: str
    method: str
    headers: dict[str, str]
    payload: str | None
    cron_expression: str
    timezone: str = Field(description="chronohook extension: the IANA zone cron_expression is read in.")
    catch_up: CatchUp = Field(description="chronohook extension: the catch-up policy after downtime.")
    callback_url: str | None
    timeout_seconds: int
    alert_threshold: int | None
    success_assertions: list[CronAssertion]
    is_active: bool
    next_run_at: str | None = Field(description="The next occurrence; null while the cron is paused.")
    last_run_at: str | None
    created_at: str
    updated_at: str


class RecuroRunResponse(RunResponse):
    """One attempt, as GET /api/jobs/{id}/runs and GET /api/crons/{id}/runs list it."""

    job_id: int | None = Field(description="The job record the run belongs to (of a retry chain); null for a cron's.")
    status: Literal["success", "failed"]
    due_at: str
    response_truncated: bool = Field(description="The response body was cut at 16 KiB.")
    delayed_by_ms: int = Field(
        default=0,
        description="chronohook extension: how long the tenant's delivery budget delayed this attempt past its own "
        "instant (`due_at` is the instant the budget allowed); 0 when it was not delayed.",
    )


class QuedupRun(BaseModel):
    """One attempt of a QuedUp job, as GET /jobs/{id}/runs lists it (RFC 3339 times, as QuedUp's)."""

    id: str = Field(description="The run id, also sent as X-Chronohook-Run-Id.")
    job_id: str
    attempt: int
    status: Literal["success", "failed"]
    due_at: str
    started_at: str
    executed_at: str
    duration_ms: float
    response_status: int | None
    response_headers: dict[str, str]
    response_body: str | None
    response_truncated: bool = Field(description="The response body was cut at 16 KiB.")
    request_headers: dict[str, str]
    request_body: str | None
    error_message: str | None
    failure_reason: str | None
    delayed_by_ms: int = Field(
        default=0,
        description="chronohook extension: how long the tenant's delivery budget delayed this attempt past its own "
        "instant (`due_at` is the instant the budget allowed); 0 when it was not delayed.",
    )
