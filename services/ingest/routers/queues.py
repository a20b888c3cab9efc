"""Recuro's queues: ``/api/queues`` (decision 0015).

A queue exists once a job was pushed to it, or once its settings were set: ``PATCH`` of a queue never pushed to
creates it with the settings given (Recuro's defaults for the rest), so a queue can be paused or configured before
its first job. Each change is a ``QueueSettingsChanged`` with the queue's full new settings, on the compacted
queue-settings topic that every timer reads; a job takes the settings in force when it runs. Either way a new queue
counts against the tenant's queue cap, and ``DELETE`` of an empty queue writes its key's tombstone (decision 0030).
"""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Annotated, Protocol, runtime_checkable

from fastapi import APIRouter, Query, Response

from chronohook.clock import iso8601_offset
from chronohook.errors import PublishFailed
from chronohook.ids import queue_id, random_event_id
from chronohook.kafka.records import Headers
from chronohook.readmodel.counts import pending_in_queue
from chronohook.readmodel.queue_stats import QueueStats, queue_stats
from chronohook.readmodel.queues import QueueView, queue_by_name, queues_page
from schemas.events import QueueSettings, QueueSettingsChanged, SuccessAssertion
from schemas.topics import DELETED_AT_HEADER, queue_settings_key
from services.ingest import validation as v
from services.ingest.context import Ctx, IngestContext, Tenant
from services.ingest.errors import (
    RECURO_RESPONSES,
    Conflict,
    NotFound,
    RecuroErrorBody,
    Responses,
    Unavailable,
    invalid_input,
)
from services.ingest.fresh_reads import FRESH
from services.ingest.pagination import Page, Paging, laravel_page
from services.ingest.queue_models import (
    QueueAssertion,
    QueueCounts,
    QueueLateness,
    QueueResponse,
    QueueStatsResponse,
    UpdateQueueRequest,
)

router = APIRouter(prefix="/api/queues", tags=["Recuro queues"])
NOT_FOUND: Responses = {404: {"model": RecuroErrorBody, "description": "No such queue for this tenant"}}
HOLDS_JOBS: Responses = {409: {"model": RecuroErrorBody, "description": "The queue holds jobs waiting to run"}}


@runtime_checkable
class Tombstones(Protocol):
    async def append_tombstone(self, key: str, headers: Headers) -> tuple[int, int]: ...


def queue_response(view: QueueView) -> QueueResponse:
    s = view.settings
    return QueueResponse(
        id=view.queue_id,
        name=view.name,
        is_active=s.is_active,
        timeout_seconds=s.timeout_seconds,
        retries_enabled=s.retries_enabled,
        retry_delays=list(s.retry_delays),
        success_assertions=[QueueAssertion(type=a.type, value=a.value) for a in s.success_assertions],
        alerts_enabled=s.alerts_enabled,
        max_parallelism=s.max_parallelism,
        dlq_retention_days=s.dlq_retention_days,
        sensitive_headers=list(s.sensitive_headers),
        created_at=iso8601_offset(view.created_at),
        updated_at=iso8601_offset(view.updated_at),
    )


def _valid_name(name: str) -> bool:
    try:
        v.plain_text(name)
    except v.RuleError:
        return False
    return 0 < len(name) <= v.NAME_MAX


async def _read(ctx: IngestContext, tenant: str, name: str) -> QueueView | None:
    return await asyncio.to_thread(queue_by_name, ctx.engine, tenant, name)


@router.get("", response_model=Page[QueueResponse], responses=RECURO_RESPONSES, dependencies=[FRESH])
async def list_queues(ctx: Ctx, tenant: Tenant, paging: Paging) -> Page[QueueResponse]:
    """The tenant's queues, oldest first, a page at a time (``?page=``, ``?per_page=`` up to 100)."""
    views, total = await asyncio.to_thread(queues_page, ctx.engine, tenant, paging.per_page, paging.offset)
    return laravel_page(paging, [queue_response(q) for q in views], total)


@router.get("/{name}", response_model=QueueResponse, responses=RECURO_RESPONSES | NOT_FOUND, dependencies=[FRESH])
async def get_queue(name: str, ctx: Ctx, tenant: Tenant) -> QueueResponse:
    """The queue and its settings."""
    view = await _read(ctx, tenant, name) if _valid_name(name) else None
    if view is None:
        raise NotFound("Queue not found.")
    return queue_response(view)


WINDOW_MAX_S = 86400


def stats_response(name: str, stats: QueueStats) -> QueueStatsResponse:
    c = stats.counts
    late = stats.lateness
    return QueueStatsResponse(
        name=name,
        counts=QueueCounts(
            pending=c.get("pending", 0),
            processing=c.get("processing", 0),
            completed=c.get("completed", 0),
            failed=c.get("failed", 0),
            total=sum(c.values()),
        ),
        window_s=stats.window_s,
        runs=stats.runs,
        successes=stats.successes,
        failures=stats.failures,
        runs_per_minute=stats.runs_per_minute,
        lateness=None if late is None else QueueLateness(p50_ms=late.p50_ms, p95_ms=late.p95_ms, max_ms=late.max_ms),
    )


@router.get(
    "/{name}/stats", response_model=QueueStatsResponse, responses=RECURO_RESPONSES | NOT_FOUND, dependencies=[FRESH]
)
async def queue_stats_of(
    name: str,
    ctx: Ctx,
    tenant: Tenant,
    window_s: Annotated[
        int, Query(ge=1, le=WINDOW_MAX_S, description="The window, in seconds, ending now (1 to 86400).")
    ] = 3600,
) -> QueueStatsResponse:
    """A chronohook extension: the queue's jobs counted by status (exact), and its runs over the last ``window_s``
    seconds: how many, how many succeeded or failed, runs per minute, and how late they started (p50, p95 and max of
    ``started_at - due_at``, in milliseconds, from instants recorded with microseconds)."""
    view = await _read(ctx, tenant, name) if _valid_name(name) else None
    if view is None:
        raise NotFound("Queue not found.")
    stats = await asyncio.to_thread(queue_stats, ctx.engine, tenant, name, ctx.clock.now(), window_s)
    return stats_response(name, stats)


@router.patch("/{name}", response_model=QueueResponse, responses=RECURO_RESPONSES, dependencies=[FRESH])
async def update_queue(name: str, req: UpdateQueueRequest, ctx: Ctx, tenant: Tenant) -> QueueResponse:
    """Change some of the queue's settings; the others keep their values. A queue not yet pushed to is created.

    Jobs take the new settings when they run: a paused queue (``is_active: false``) holds its jobs, and resuming
    releases them at once (overdue ones first). Two PATCHes of one queue at the same moment: the later wins whole.
    """
    if not _valid_name(name):
        raise invalid_input({"name": [f"The name field must be a string of 1 to {v.NAME_MAX} characters without "
                                      "control characters."]})  # fmt: skip
    now = ctx.clock.now()
    current = await _read(ctx, tenant, name)
    changed = req.model_dump(include=req.model_fields_set)
    if "success_assertions" in changed:
        changed["success_assertions"] = tuple(SuccessAssertion(**a) for a in changed["success_assertions"])
    settings = QueueSettings.model_validate(
        (current.settings if current is not None else QueueSettings()).model_dump() | changed
    )
    qid = queue_id(tenant, name)
    event = QueueSettingsChanged(
        event_id=random_event_id(),
        job_id=queue_settings_key(tenant, qid),
        tenant=tenant,
        occurred_at=now,
        queue=name,
        queue_id=qid,
        settings=settings,
    )
    if ctx.queue_log is None:
        raise Unavailable("This API process has no queue settings log; nothing was changed.")
    # A new queue counts against the tenant's queue cap (decision 0030).
    with await ctx.caps.queues.admit(tenant, [name] if current is None else [], "name") as admitted:
        try:
            ((partition, offset),) = await ctx.queue_log.append([event])
        except PublishFailed as exc:
            raise Unavailable(
                f"The queue settings log did not acknowledge the write, nothing was changed: {exc}"
            ) from exc
        admitted.wrote([(ctx.queue_topic, partition, offset)])
    ctx.recent.wrote(event.job_id, partition, offset)
    await ctx.wrote(tenant, [(ctx.queue_topic, partition, offset)])
    view = QueueView(
        queue_id=qid,
        tenant=tenant,
        name=name,
        settings=settings,
        created_at=current.created_at if current is not None else now,
        updated_at=now,
    )
    return queue_response(view)


@router.delete("/{name}", status_code=204, responses=RECURO_RESPONSES | NOT_FOUND | HOLDS_JOBS, dependencies=[FRESH])
async def delete_queue(name: str, ctx: Ctx, tenant: Tenant) -> Response:
    """Delete an empty queue and its settings (decision 0030); a queue of that name made later starts afresh, with
    Recuro's defaults. A queue that still holds jobs waiting to run (paused ones too) is a 409: let them finish, or
    delete them, first."""
    view = await _read(ctx, tenant, name) if _valid_name(name) else None
    if view is None:
        raise NotFound("Queue not found.")
    if not await ctx.caught_up_all():
        # A push this process just took may not be counted yet: better no answer than deleting a queue holding it.
        raise Unavailable("The read model is behind this API's latest writes; nothing was changed, try again.")
    waiting = await asyncio.to_thread(pending_in_queue, ctx.engine, tenant, name)
    if waiting:
        raise Conflict(
            f"The queue {name!r} holds {waiting} job{'s' if waiting > 1 else ''} waiting to run; it can be deleted "
            "once they have run (or were deleted)."
        )
    log = ctx.queue_log
    if not isinstance(log, Tombstones):
        raise Unavailable("This API process has no queue settings log; nothing was changed.")
    key = queue_settings_key(tenant, view.queue_id)
    try:
        at = ctx.clock.now().astimezone(UTC).isoformat(timespec="microseconds")
        partition, offset = await log.append_tombstone(key, [(DELETED_AT_HEADER, at.encode())])
    except PublishFailed as exc:
        raise Unavailable(f"The queue settings log did not acknowledge the delete, nothing was changed: {exc}") from exc
    ctx.recent.wrote(key, partition, offset)
    ctx.caps.queues.deleted(tenant, name, (ctx.queue_topic, partition, offset))
    await ctx.wrote(tenant, [(ctx.queue_topic, partition, offset)])
    return Response(status_code=204)
