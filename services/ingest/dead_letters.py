"""Dead letters: the request and response bodies of ``/api/dead-letters``, and the pure translations to events.

A replay is a fresh job (attempt 1, due at once, a new id and its own webhook-id) with the dead letter's request,
queue, payload and callback, read from the original job's view. Its id is derived from the dead letter (the job and
the moment it was dead-lettered): two replays of one dead letter that race past the read model name one job, and a
replay after the first is refused (409), the read model saying what it was replayed as.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from chronohook.clock import iso8601_offset
from chronohook.ids import derived_integer_id, deterministic_event_id, recuro_job_key
from chronohook.readmodel.dead_letters import DeadLetter
from chronohook.readmodel.views import JobView
from chronohook.retries import RECURO_QUEUE_RETRIES
from schemas.events import DeadLetterReplayed, JobPurged, JobPushed
from services.ingest.commands import recuro_scheduled_at
from services.ingest.models import LaravelInt, PushJobResponse, Request

# The most dead letters one bulk call replays or purges; the answer says how many are left for the next call.
BULK_MAX = 1000


class LastFailure(BaseModel):
    """The run that failed last, ending the retry chain."""

    job_id: int = Field(description="The job (the original or one of its retries) whose run it was.")
    attempt: int
    failure_reason: str | None
    error_message: str | None
    response_status: int | None
    executed_at: str


class DeadLetterResponse(BaseModel):
    job_id: int = Field(description="The original job's id: the one to replay or delete.")
    queue: str
    queue_id: int
    method: str
    url: str
    attempts: int = Field(description="Attempts made across the retry chain.")
    final_status: Literal["dead_lettered"] = "dead_lettered"
    dead_lettered_at: str
    purge_at: str | None = Field(description="When it is purged: dead_lettered_at + the queue's dlq_retention_days.")
    last_failure: LastFailure | None = Field(description="Null for a moment while the last run is being recorded.")


class ReplayResponse(PushJobResponse):
    """As ``POST /api/jobs`` answers, for the fresh job; ``replay_of`` is the dead letter's id."""

    replay_of: int
    message: str = "Replayed successfully"


class BulkReplayRequest(Request):
    """Exactly one of ``queue`` (its oldest dead letters, up to 1,000 per call) or ``job_ids`` (up to 1,000)."""

    queue: str | None = Field(default=None, min_length=1, max_length=255)
    job_ids: Annotated[list[LaravelInt], Field(min_length=1, max_length=BULK_MAX)] | None = None


class Skipped(BaseModel):
    job_id: int
    reason: Literal["not_found", "already_replayed", "deferred"] = Field(
        description="deferred: past this call's size budget; send it again."
    )


class BulkReplayResponse(BaseModel):
    success: bool = True
    count: int
    jobs: list[ReplayResponse]
    skipped: list[Skipped] = Field(description="Listed ids that are not (or no longer) this tenant's dead letters.")
    remaining: int = Field(description="For a queue: its dead letters still waiting (call again to replay them).")


class PurgeResponse(BaseModel):
    success: bool = True
    purged: int
    job_ids: list[int]
    remaining: int = Field(description="The queue's dead letters still there (call again to purge them).")


def replay_integer_id(letter: DeadLetter) -> int:
    return derived_integer_id("dead-letter-replay", letter.job_id, int(letter.dead_lettered_at.timestamp() * 1000))


def replay_events(letter: DeadLetter, view: JobView, now: datetime) -> tuple[DeadLetterReplayed, JobPushed]:
    """The dead letter's replay: the mark on the dead letter, and the fresh job (attempt 1, due ``now``)."""
    new_id = replay_integer_id(letter)
    new_key = recuro_job_key(new_id)
    replayed = DeadLetterReplayed(
        event_id=deterministic_event_id(letter.job_id, "replayed", new_key),
        job_id=letter.job_id,
        tenant=letter.tenant,
        occurred_at=now,
        replay_job_id=new_key,
        replay_integer_id=new_id,
    )
    pushed = JobPushed(
        event_id=deterministic_event_id(new_key, "pushed"),
        job_id=new_key,
        tenant=letter.tenant,
        occurred_at=now,
        integer_id=new_id,
        queue=view.queue or letter.queue,
        queue_id=view.queue_id or letter.queue_id,
        request=view.request,
        payload=view.payload,
        scheduled_at=now,
        delay_seconds=0,
        callback_url=view.callback_url,
        retry=RECURO_QUEUE_RETRIES,
    )
    return replayed, pushed


def purge_event(letter: DeadLetter, reason: Literal["deleted", "queue_purged"], now: datetime) -> JobPurged:
    return JobPurged(
        event_id=deterministic_event_id(letter.job_id, "purged", int(letter.dead_lettered_at.timestamp() * 1000)),
        job_id=letter.job_id,
        tenant=letter.tenant,
        occurred_at=now,
        reason=reason,
    )


def replay_response(letter: DeadLetter, pushed: JobPushed) -> ReplayResponse:
    return ReplayResponse(
        queue_id=pushed.queue_id,
        job_id=pushed.integer_id,
        scheduled_at=recuro_scheduled_at(pushed.scheduled_at, pushed.occurred_at),
        replay_of=letter.integer_id,
    )


def dead_letter_response(letter: DeadLetter) -> DeadLetterResponse:
    run = letter.last_run
    return DeadLetterResponse(
        job_id=letter.integer_id,
        queue=letter.queue,
        queue_id=letter.queue_id,
        method=letter.method,
        url=letter.url,
        attempts=letter.attempts,
        dead_lettered_at=iso8601_offset(letter.dead_lettered_at),
        purge_at=None if letter.purge_at is None else iso8601_offset(letter.purge_at),
        last_failure=None
        if run is None
        else LastFailure(
            job_id=int(run.job_id.removeprefix("rj_")) if run.job_id.startswith("rj_") else letter.integer_id,
            attempt=run.attempt,
            failure_reason=run.failure_reason,
            error_message=run.error_message,
            response_status=run.response_status,
            executed_at=iso8601_offset(run.executed_at),
        ),
    )
