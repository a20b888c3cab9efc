"""Recuro's queue jobs: ``/api/jobs``."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from chronohook.ids import recuro_job_key
from chronohook.readmodel.job_list import Direction, JobFilter, Position, position, recuro_jobs_page, runs_of
from schemas.events import JobPushed
from services.ingest import capped, commands
from services.ingest import validation as v
from services.ingest.context import Ctx, IngestContext, Tenant
from services.ingest.errors import RECURO_RESPONSES, NotFound, PayloadTooLarge, RecuroErrorBody, invalid_input
from services.ingest.fresh_reads import FRESH
from services.ingest.idempotency import NewIds
from services.ingest.models import (
    PushJobRequest,
    PushJobResponse,
    PushJobsBatchRequest,
    PushJobsBatchResponse,
    RecuroJobResponse,
)
from services.ingest.pagination import PER_PAGE_DEFAULT, PER_PAGE_MAX
from services.ingest.paths import IntegerId

router = APIRouter(prefix="/api/jobs", tags=["Recuro jobs"])
BATCH_PATH = "/api/jobs/batch"
ERRORS = RECURO_RESPONSES | {413: {"model": RecuroErrorBody, "description": commands.TOO_LARGE}}


def refuse_unsendable(ctx: IngestContext, jobs: list[PushJobRequest], prefix: str = "") -> None:
    """422 for URLs whose host is a literal address the egress policy refuses, named by field (``jobs.3.url``)."""
    policy = v.egress_policy(ctx.settings.egress_allow)
    errors: dict[str, list[str]] = {}
    for index, job in enumerate(jobs):
        where = f"{prefix}{index}." if prefix else ""
        urls = {f"{where}url": job.url, f"{where}callback_url": job.callback_url}
        errors.update(v.egress_errors(policy, urls))
    if errors:
        raise invalid_input(errors)


def refuse_oversized(events: list[JobPushed], batch: bool = False) -> None:
    for index, event in enumerate(events):
        if (why := commands.over_budget(event, f"Job jobs.{index}" if batch else "The job")) is not None:
            raise PayloadTooLarge(why)


@router.post("", status_code=201, response_model=PushJobResponse, responses=ERRORS)
async def push_job(req: PushJobRequest, ctx: Ctx, tenant: Tenant, ids: NewIds) -> PushJobResponse:
    """Push a one-off HTTP job to a named queue (created on first push)."""
    refuse_unsendable(ctx, [req])
    event = commands.push_recuro_job(req, tenant, ids.integer(), ids.now)
    refuse_oversized([event])
    await capped.publish_pushes(ctx, tenant, [event])
    return PushJobResponse(
        queue_id=event.queue_id,
        job_id=event.integer_id,
        scheduled_at=commands.recuro_scheduled_at(event.scheduled_at, event.occurred_at),
    )


@router.post(
    "/batch",
    status_code=201,
    response_model=PushJobsBatchResponse,
    responses=ERRORS
    | {
        413: {
            "model": RecuroErrorBody,
            "description": "The body is larger than the batch limit (16 MiB by default), or a job's largest event "
            "would exceed the event budget (the message names it: jobs.<index>)",
        }
    },
)
async def push_jobs(req: PushJobsBatchRequest, ctx: Ctx, tenant: Tenant, ids: NewIds) -> PushJobsBatchResponse:
    """Push up to 1,000 jobs at once: all validated before any is accepted; one response per job, in order.

    A 422 names the failing job by its index (``jobs.3.url``) and accepts none. The jobs are appended as one
    Kafka transaction: a 503 means none of them was accepted, so the batch can simply be sent again.
    """
    refuse_unsendable(ctx, req.jobs, prefix="jobs.")
    now = ids.now  # with an Idempotency-Key: each job's id derives from the key and its index
    events = [commands.push_recuro_job(job, tenant, ids.integer(i), now) for i, job in enumerate(req.jobs)]
    refuse_oversized(events, batch=True)
    await capped.publish_pushes(ctx, tenant, events, atomically=True)
    return PushJobsBatchResponse(
        count=len(events),
        jobs=[
            PushJobResponse(
                queue_id=e.queue_id,
                job_id=e.integer_id,
                scheduled_at=commands.recuro_scheduled_at(e.scheduled_at, e.occurred_at),
            )
            for e in events
        ],
    )


@router.get(
    "/{job_id:id}",
    response_model=RecuroJobResponse,
    responses=ERRORS | {404: {"model": RecuroErrorBody, "description": "Not found"}},
    dependencies=[FRESH],
)
async def get_job(job_id: IntegerId, ctx: Ctx, tenant: Tenant) -> RecuroJobResponse:
    """The job, its status, final status, attempt number, retry chain links and runs.

    A retry is a job of its own (`is_retry`, `retry_of`: the original's id, `attempt_number`); the original
    carries the chain's outcome: `final_status` `retrying` while a retry is pending (`has_pending_retry`), then
    `success` or `dead_lettered` (with `dead_lettered_at`); `failed_no_retries` when its queue has retries off."""
    key = recuro_job_key(job_id)
    view = await asyncio.to_thread(ctx.store.job, tenant, key)
    if view is None:
        raise NotFound("Job not found.")
    runs = await asyncio.to_thread(ctx.store.runs, key)
    # The chain's fields (final_status, has_pending_retry, dead_lettered_at) are folded onto the original job from
    # the timer's decisions about its retries (decision 0016): read as stored.
    return commands.recuro_job(view, runs)


# -- the list: keyset pages in Laravel's cursor-paginator shape ---------------------------------------------------
MAX_CURSOR_CHARS = 512
BAD_CURSOR = "The cursor is invalid."
OTHER_FILTERS = (
    "The cursor was given for other filters: keep the filters while paging, or start again without a cursor."
)
URL_FILTER_MAX = 2048
JobStatus = Literal["pending", "processing", "completed", "failed"]


class CursorLinks(BaseModel):
    first: None = Field(description="Always null: a cursor paginator has no first-page link (Laravel's).")
    last: None = Field(description="Always null, as `first`.")
    prev: str | None = Field(description="The newer page's URL; null on the first page.")
    next: str | None = Field(description="The older page's URL; null on the last page.")


class CursorMeta(BaseModel):
    path: str
    per_page: int
    next_cursor: str | None
    prev_cursor: str | None


class RecuroJobsPage(BaseModel):
    """Laravel's cursor-paginated API resource collection (``cursorPaginate()``)."""

    data: list[RecuroJobResponse]
    links: CursorLinks
    meta: CursorMeta


def filters_digest(where: JobFilter) -> str:
    """A short digest of the filters a page was read with ("" for none), carried in its cursors (decision 0046)."""
    values = [where.queue, where.status, where.url, where.created_after, where.created_before]
    if all(value is None for value in values):
        return ""
    named = [None if x is None else x.astimezone(UTC).isoformat() if isinstance(x, datetime) else x for x in values]
    return hashlib.sha256(json.dumps(named).encode()).hexdigest()[:16]


def encode_cursor(at: Position, direction: Direction, filters: str = "") -> str:
    """Opaque to clients: base64url of the sort key and the direction, as Laravel's cursors are, and the digest of
    the filters the page was read with (none when unfiltered)."""
    doc: dict[str, object] = {
        "created_at": at.created_at.isoformat(),
        "id": at.job_id,
        "_pointsToNextItems": direction == "next",
    }
    if filters:
        doc["filters"] = filters
    return base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, filters: str = "") -> tuple[Position, Direction]:
    """The position and direction of a cursor this API gave for these filters; a 422 (``cursor``) for anything else:
    a cursor read with other filters would start a page at a job the filtered list may not hold."""
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError("too long")
        doc = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        at = datetime.fromisoformat(doc["created_at"])
        job_id, forward = doc["id"], doc["_pointsToNextItems"]
        if at.tzinfo is None or not isinstance(job_id, str) or not isinstance(forward, bool):
            raise ValueError("malformed")
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError, OverflowError) as exc:
        raise invalid_input({"cursor": [BAD_CURSOR]}) from exc
    if doc.get("filters", "") != filters:
        raise invalid_input({"cursor": [OTHER_FILTERS]})
    return Position(at.astimezone(UTC), job_id), "next" if forward else "prev"


@router.get("", response_model=RecuroJobsPage, responses=ERRORS, dependencies=[FRESH])
async def list_jobs(
    request: Request,
    ctx: Ctx,
    tenant: Tenant,
    cursor: Annotated[str | None, Query(description="`meta.next_cursor` or `meta.prev_cursor` of a page.")] = None,
    per_page: Annotated[int, Query(ge=1, le=PER_PAGE_MAX, description="Items per page (1-100).")] = PER_PAGE_DEFAULT,
    queue: Annotated[str | None, Query(min_length=1, max_length=255, description="Only this queue's.")] = None,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
    url: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=URL_FILTER_MAX,
            description="Only jobs whose URL holds this text, any case (a Recuro job has no name).",
        ),
    ] = None,
    created_after: Annotated[
        AwareDatetime | None, Query(description="Only jobs created at or after this instant (RFC 3339, with offset).")
    ] = None,
    created_before: Annotated[
        AwareDatetime | None, Query(description="Only jobs created strictly before this instant (RFC 3339).")
    ] = None,
) -> RecuroJobsPage:
    """The tenant's queue jobs (retry jobs too), newest first, a keyset page at a time.

    Follow `links.next` (or pass `meta.next_cursor` as `cursor`) until it is null; a job created meanwhile never
    shifts the pages. The filters stay in the links, and each cursor carries a digest of them: a cursor sent with
    other filters than its page's, or one this API did not give, is a 422 naming `cursor`."""
    if url is not None:
        try:
            v.plain_text(url)
        except v.RuleError as exc:
            raise invalid_input({"url": [f"The url field {exc}"]}) from exc
    if created_after is not None and created_before is not None and created_before <= created_after:
        raise invalid_input({"created_before": ["The created before field must be a date after created after."]})
    where = JobFilter(queue=queue, status=status, url=url, created_after=created_after, created_before=created_before)
    digest = filters_digest(where)
    after: Position | None = None
    direction: Direction = "next"
    if cursor is not None:
        after, direction = decode_cursor(cursor, digest)
    found = await asyncio.to_thread(recuro_jobs_page, ctx.engine, tenant, where, per_page, after, direction)
    runs = await asyncio.to_thread(runs_of, ctx.engine, [j.job_id for j in found.jobs])
    backward = after is not None and direction == "prev"
    # Laravel's rule: beyond the page in the direction read, there is more when the read found more; behind it there
    # is a page whenever the read started from a cursor.
    has_next = found.more if not backward else True
    has_prev = after is not None if not backward else found.more
    next_cursor = encode_cursor(position(found.jobs[-1]), "next", digest) if has_next and found.jobs else None
    prev_cursor = encode_cursor(position(found.jobs[0]), "prev", digest) if has_prev and found.jobs else None
    here = request.url

    def link(value: str | None) -> str | None:
        return None if value is None else str(here.include_query_params(cursor=value))

    return RecuroJobsPage(
        data=[commands.recuro_job(j, runs[j.job_id]) for j in found.jobs],
        links=CursorLinks(first=None, last=None, prev=link(prev_cursor), next=link(next_cursor)),
        meta=CursorMeta(
            path=str(here.replace(query="")), per_page=per_page, next_cursor=next_cursor, prev_cursor=prev_cursor
        ),
    )
