"""Request and response models of both APIs (separate from the events they become)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from services.ingest import validation as v

Url = Annotated[StrictStr, Field(max_length=v.URL_MAX), AfterValidator(v.plain_text), AfterValidator(v.valid_url)]
Method = Annotated[StrictStr, AfterValidator(v.http_method)]
QuedupMethod = Annotated[StrictStr, AfterValidator(lambda m: v.http_method(m, v.QUEDUP_METHODS))]
Cron = Annotated[StrictStr, Field(max_length=255), AfterValidator(v.plain_text), AfterValidator(v.cron_expression)]
Rfc3339 = Annotated[StrictStr, AfterValidator(v.rfc3339)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=v.NAME_MAX), AfterValidator(v.plain_text)]
Headers = Annotated[dict[StrictStr, StrictStr], AfterValidator(v.http_headers)]
Text = Annotated[StrictStr, AfterValidator(v.body_text)]
Payload = Annotated[dict[str, Any], AfterValidator(v.json_payload)]


class Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


# -- QuedUp -----------------------------------------------------------------------------------------------------
class CreateJobRequest(Request):
    """QuedUp's job.CreateJobRequest."""

    method: QuedupMethod = Field(description="The HTTP method used when sending the request.", examples=["POST"])
    name: Name = Field(description="A unique name for the job. Used for identification.", examples=["Database Backup"])
    url: Url = Field(description="The URL the job will send a request to.", examples=["https://example.com"])
    body: Text | None = Field(default=None, description="Optional request body to include when sending the job.")
    headers: Headers | None = Field(default=None, description="Optional HTTP headers to send.")
    run_at: Rfc3339 | None = Field(
        default=None, description="Run once at this RFC 3339 time. Ignored if schedule is provided."
    )
    schedule: Cron | None = Field(default=None, description="5-field cron (UTC); takes precedence over run_at.")


class UpdateJobRequest(Request):
    """Partial update: only the fields present change; ``null`` clears ``body``, ``run_at`` or ``schedule``."""

    method: QuedupMethod | None = None
    name: Name | None = None
    url: Url | None = None
    body: Text | None = None
    headers: Headers | None = None
    run_at: Rfc3339 | None = None
    schedule: Cron | None = None


class Job(BaseModel):
    """QuedUp's Job object."""

    id: str = Field(examples=["job_xxx"])
    name: str
    method: str
    url: str
    body: str | None
    headers: dict[str, str]
    schedule: str | None
    next_run_at: str | None = Field(description="The next run (RFC 3339); null once the job is complete.")
    status: Literal["active", "paused", "failed", "completed"]


# -- Recuro -----------------------------------------------------------------------------------------------------
class PushJobRequest(Request):
    """Recuro's POST /api/jobs body."""

    queue: Name = Field(description="Queue name. Created automatically if it does not exist.")
    url: Url = Field(description="The URL to send the HTTP request to.")
    method: Method = Field(default="POST", description="GET, POST, PUT, PATCH or DELETE.")
    headers: Headers | None = Field(default=None, description="Sent as request headers.")
    payload: Payload | None = Field(default=None, description="JSON body sent with the request.")
    callback_url: Url | None = Field(default=None, description="Receives a POST when the job completes.")
    delay: StrictInt = Field(default=0, ge=0, le=86_400, description="Seconds to wait before running the job.")
    run_at: Rfc3339 | None = Field(
        default=None,
        description="chronohook extension: run at this RFC 3339 time (millisecond precision) instead of after "
        "`delay`; a time in the past runs now. Not combinable with `delay`.",
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
    """Recuro's POST /api/crons body."""

    name: Name
    url: Url
    cron_expression: Cron
    method: Method = "POST"
    headers: Headers | None = None
    payload: Text | None = Field(default=None, description="Raw request body (a string, unlike jobs).")
    callback_url: Url | None = None
    timeout_seconds: StrictInt = Field(default=30, ge=1, le=300)
    alert_threshold: Literal[1, 2, 3] | None = None
    success_assertions: list[SuccessAssertion] = Field(default_factory=list, max_length=10)
    is_active: StrictBool = True


class CronResponse(BaseModel):
    id: int
    name: str
    cron_expression: str
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
    final_status: str | None
    attempt_number: int
    is_retry: bool
    retry_of: int | None
    has_pending_retry: bool
    retry_job_id: int | None
    scheduled_at: str | None
    created_at: str
    dead_lettered_at: str | None
    runs: list[RunResponse]


class Health(BaseModel):
    status: str
    kafka: str | None = None
    database: str | None = None
