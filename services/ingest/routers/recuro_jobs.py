"""Recuro's queue jobs: ``/api/jobs``."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from chronohook.clock import iso8601_offset
from chronohook.ids import recuro_job_key
from services.ingest import commands
from services.ingest.context import Ctx, Tenant
from services.ingest.errors import NotFound
from services.ingest.models import PushJobRequest, PushJobResponse, RecuroJobResponse

router = APIRouter(prefix="/api/jobs", tags=["Recuro jobs"])
ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": '`{"error": "Missing authorization token"}`'},
    422: {"description": 'Laravel-style `{"message": ..., "errors": {field: [...]}}`'},
    503: {"description": "The job log did not acknowledge; nothing was accepted"},
}


@router.post("", status_code=201, response_model=PushJobResponse, responses=ERRORS)
async def push_job(req: PushJobRequest, ctx: Ctx, tenant: Tenant) -> PushJobResponse:
    """Push a one-off HTTP job to a named queue (created on first push)."""
    event = commands.push_recuro_job(req, tenant, ctx.ids.next_id(), ctx.clock.now())
    await ctx.publish([event])
    return PushJobResponse(
        queue_id=event.queue_id, job_id=event.integer_id, scheduled_at=iso8601_offset(event.scheduled_at)
    )


@router.get("/{job_id}", response_model=RecuroJobResponse, responses=ERRORS | {404: {"description": "Not found"}})
async def get_job(job_id: int, ctx: Ctx, tenant: Tenant) -> RecuroJobResponse:
    """The job, its status, final status, attempt number and runs."""
    key = recuro_job_key(job_id)
    await ctx.caught_up(key)
    view = await asyncio.to_thread(ctx.store.job, tenant, key)
    if view is None:
        raise NotFound("Job not found.")
    runs = await asyncio.to_thread(ctx.store.runs, key)
    return commands.recuro_job(view, runs)
