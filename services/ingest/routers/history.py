"""A job's history, its audit trail: ``/api/jobs/{id}/events``, ``/api/crons/{id}/events`` (Recuro),
``/jobs/{id}/events`` (QuedUp). Every event of the job, oldest first (log order), paged as each family's lists are
(services/ingest/pagination.py); kept after the job is deleted or purged, whose event is then the last entry.

Read through the history's own rows, which carry the tenant: a deleted job has no row in ``jobs`` any more, and its
history still answers to its tenant (and to no other: 404).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from chronohook.clock import rfc3339
from chronohook.ids import recuro_cron_key, recuro_job_key
from chronohook.readmodel.history import HistoryEntry, HistoryPage, history_page
from chronohook.readmodel.views import JobView
from chronohook.sealing import masked_document
from services.ingest.context import Ctx, IngestContext, Tenant
from services.ingest.errors import QUEDUP_RESPONSES, RECURO_RESPONSES, NotFound, RecuroErrorBody, Responses
from services.ingest.fresh_reads import FRESH
from services.ingest.pagination import Page, Paging, laravel_page
from services.ingest.paths import IntegerId

router = APIRouter(tags=["History"])
RECURO_ERRORS: Responses = RECURO_RESPONSES | {
    404: {"model": RecuroErrorBody, "description": "No such job or cron of this tenant, now or before"}
}

TYPE = "The event's type, as the event carries it (`JobPushed`, `JobDue`, `JobSucceeded`, ...; docs/events.md)."
RUN_ID = "The run the event belongs to (a run handed out, its result, its retry, callback or alert), else null."
PAYLOAD = "The event's own fields, as the event carries them (the envelope's are the fields beside this one)."


class RecuroJobEvent(BaseModel):
    """One event of a Recuro job's or cron's history."""

    id: str = Field(description="The event's id (unique in the job's history).")
    type: str = Field(description=TYPE)
    occurred_at: str = Field(description="When it happened, with milliseconds: `2026-04-10T14:05:00.120+00:00`.")
    run_id: str | None = Field(description=RUN_ID)
    schema_version: int
    payload: dict[str, Any] = Field(description=PAYLOAD)


class QuedupJobEvent(BaseModel):
    """One event of a QuedUp job's history (RFC 3339 times, as QuedUp's)."""

    id: str = Field(description="The event's id (unique in the job's history).")
    job_id: str
    type: str = Field(description=TYPE)
    occurred_at: str
    run_id: str | None = Field(description=RUN_ID)
    schema_version: int
    payload: dict[str, Any] = Field(description=PAYLOAD)


async def _history(
    ctx: IngestContext, tenant: str, api: str, key: str, limit: int, offset: int, missing: str
) -> HistoryPage:
    """The page of ``tenant``'s history of ``key``; 404 when the tenant has neither history nor job by that id."""
    if "\x00" in key:  # no job's id; PostgreSQL cannot even compare text holding NUL
        raise NotFound(missing)
    found = await asyncio.to_thread(history_page, ctx.engine, tenant, api, key, limit, offset)
    if found.total == 0:
        # No history: a job projected before histories were kept has its job row still (an empty history); else none.
        view: JobView | None = await asyncio.to_thread(ctx.store.job, tenant, key)
        if view is None or view.api != api:
            raise NotFound(missing)
    return found


def recuro_event(entry: HistoryEntry) -> RecuroJobEvent:
    return RecuroJobEvent(
        id=entry.event_id,
        type=entry.type,
        occurred_at=_offset_ms(entry.occurred_at),
        run_id=entry.run_id,
        schema_version=entry.schema_version,
        payload=masked_document(entry.payload),
    )


def quedup_event(entry: HistoryEntry) -> QuedupJobEvent:
    return QuedupJobEvent(
        id=entry.event_id,
        job_id=entry.job_id,
        type=entry.type,
        occurred_at=rfc3339(entry.occurred_at) or "",
        run_id=entry.run_id,
        schema_version=entry.schema_version,
        payload=masked_document(entry.payload),
    )


def _offset_ms(when: datetime) -> str:
    """Recuro's ``+00:00`` style, with milliseconds: a job's events are often apart by less than a second."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


@router.get(
    "/api/jobs/{job_id:id}/events", response_model=Page[RecuroJobEvent], responses=RECURO_ERRORS, dependencies=[FRESH]
)
async def recuro_job_events(job_id: IntegerId, ctx: Ctx, tenant: Tenant, paging: Paging) -> Page[RecuroJobEvent]:
    """The job's history, oldest first, kept after it is deleted or purged (then the last entry); `?page=` and
    `?per_page=` (1-100, default 15). The job's own events: a retry's are under the retry's id."""
    key = recuro_job_key(job_id)
    found = await _history(ctx, tenant, "recuro", key, paging.per_page, paging.offset, "Job not found.")
    return laravel_page(paging, [recuro_event(e) for e in found.entries], found.total)


@router.get(
    "/api/crons/{cron_id:id}/events", response_model=Page[RecuroJobEvent], responses=RECURO_ERRORS, dependencies=[FRESH]
)
async def recuro_cron_events(cron_id: IntegerId, ctx: Ctx, tenant: Tenant, paging: Paging) -> Page[RecuroJobEvent]:
    """The cron's history (definition changes, pauses, every occurrence's events, its alerts), oldest first, kept
    after it is deleted; `?page=` and `?per_page=` (1-100, default 15)."""
    key = recuro_cron_key(cron_id)
    found = await _history(ctx, tenant, "recuro_cron", key, paging.per_page, paging.offset, "Cron not found.")
    return laravel_page(paging, [recuro_event(e) for e in found.entries], found.total)


@router.get(
    "/jobs/{job_id}/events", response_model=list[QuedupJobEvent], responses=QUEDUP_RESPONSES, dependencies=[FRESH]
)
async def quedup_job_events(
    job_id: str,
    ctx: Ctx,
    tenant: Tenant,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[QuedupJobEvent]:
    """The job's history, oldest first, kept after it is deleted (then the last entry); `?limit=` (1-1000, default
    100) and `?offset=`, as `GET /jobs` pages."""
    found = await _history(ctx, tenant, "quedup", job_id, limit, offset, f"Job {job_id} not found.")
    return [quedup_event(e) for e in found.entries]
