"""QuedUp's jobs: ``/jobs``."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Response

from chronohook.ids import random_event_id
from chronohook.readmodel.views import JobView, evolve
from schemas.events import Envelope, JobDeleted, JobPaused, JobResumed, JobUpdated
from services.ingest import capped, commands, crons, names
from services.ingest import validation as v
from services.ingest.context import Ctx, IngestContext, Tenant
from services.ingest.errors import (
    QUEDUP_RESPONSES,
    Conflict,
    NotFound,
    PayloadTooLarge,
    QuedUpErrorBody,
    QuedUpInvalidBody,
    Responses,
    invalid_input,
)
from services.ingest.fresh_reads import FRESH
from services.ingest.idempotency import NewIds
from services.ingest.models import CreateJobRequest, Job, UpdateJobRequest
from services.ingest.schedules import ScheduleChecked

router = APIRouter(prefix="/jobs", tags=["QuedUp jobs"])
MAX_OFFSET = 2**63 - 1
ERRORS = QUEDUP_RESPONSES | {413: {"model": QuedUpErrorBody, "description": commands.TOO_LARGE}}
TAKEN: Responses = {409: {"model": QuedUpInvalidBody, "description": "The name is taken"}}


async def _load(ctx: IngestContext, tenant: str, job_id: str) -> JobView:
    view = await asyncio.to_thread(ctx.store.job, tenant, job_id)
    if view is None or view.api != "quedup":
        raise NotFound(f"Job {job_id} not found.")
    return view


def _refuse_url(ctx: IngestContext, url: str | None) -> None:
    if errors := v.egress_errors(v.egress_policy(ctx.settings.egress_allow), {"url": url}):
        raise invalid_input(errors)


def _refuse_oversized(event: Envelope) -> None:
    if (why := commands.over_budget(event)) is not None:
        raise PayloadTooLarge(why)


def _taken(name: str) -> Conflict:
    return Conflict(f"A job named {name!r} already exists.", {"name": [f"The name {name!r} is already taken."]})


@router.post("", response_model=Job, responses=ERRORS | TAKEN)
async def create_job(req: CreateJobRequest, ctx: Ctx, tenant: Tenant, _: ScheduleChecked, ids: NewIds) -> Job:
    """Create a job: now, at ``run_at``, or on ``schedule`` (cron, in ``timezone``: UTC by default)."""
    _refuse_url(ctx, req.url)
    job_id = ids.quedup()
    event = commands.create_quedup_job(req, tenant, job_id, ids.now)
    _refuse_oversized(event)
    if not await asyncio.to_thread(names.reserve, ctx.engine, tenant, req.name, job_id):
        raise _taken(req.name)
    try:
        after = evolve(None, event) if event.schedule else None  # a one-off is no schedule: nothing to count
        await capped.publish_schedule(ctx, tenant, None, after, [event], "schedule")
    except BaseException:
        await asyncio.to_thread(names.release, ctx.engine, tenant, req.name, job_id)
        raise
    return commands.quedup_job_from_event(event)


@router.get("", response_model=list[Job], responses=ERRORS, dependencies=[FRESH])
async def list_jobs(
    ctx: Ctx,
    tenant: Tenant,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[Job]:
    """The tenant's jobs, oldest first."""
    # Past the end is an empty page, however far: the database's OFFSET holds no more than a signed 64-bit integer.
    views = await asyncio.to_thread(ctx.store.jobs, tenant, "quedup", limit, min(offset, MAX_OFFSET))
    return [commands.quedup_job(v) for v in views]


@router.get("/{job_id}", response_model=Job, responses=ERRORS, dependencies=[FRESH])
async def get_job(job_id: str, ctx: Ctx, tenant: Tenant) -> Job:
    return commands.quedup_job(await _load(ctx, tenant, job_id))


@router.patch("/{job_id}", response_model=Job, responses=ERRORS | TAKEN, dependencies=[FRESH])
async def update_job(job_id: str, req: UpdateJobRequest, ctx: Ctx, tenant: Tenant, _: ScheduleChecked) -> Job:
    """Change any of the create fields; the schedule is re-armed from now."""
    view = await _load(ctx, tenant, job_id)
    _refuse_url(ctx, req.url)
    event = commands.update_quedup_job(view, req, ctx.clock.now())
    return await _publish_update(ctx, tenant, view, event)


@router.put("/{job_id}", response_model=Job, responses=ERRORS | TAKEN, dependencies=[FRESH])
async def replace_job(job_id: str, req: CreateJobRequest, ctx: Ctx, tenant: Tenant, _: ScheduleChecked) -> Job:
    """Replace the job's whole definition, validated as a create is; fields left out are cleared. The schedule is
    re-armed from now, a pending retry is dropped, and a paused job stays paused."""
    view = await _load(ctx, tenant, job_id)
    _refuse_url(ctx, req.url)
    event = commands.replace_quedup_job(view, req, ctx.clock.now())
    return await _publish_update(ctx, tenant, view, event)


async def _publish_update(ctx: IngestContext, tenant: str, view: JobView, event: JobUpdated) -> Job:
    """Append ``event`` (a PATCH's or a PUT's), moving the job's name reservation when it is renamed."""
    job_id = view.job_id
    _refuse_oversized(event)
    renamed = event.name != view.name
    if renamed and not await asyncio.to_thread(names.reserve, ctx.engine, tenant, event.name, job_id):
        raise _taken(event.name)
    try:
        await capped.publish_schedule(ctx, tenant, view, evolve(view, event), [event], "schedule")
    except BaseException:
        if renamed:
            await asyncio.to_thread(names.release, ctx.engine, tenant, event.name, job_id)
        raise
    if renamed and view.name:
        await asyncio.to_thread(names.release, ctx.engine, tenant, view.name, job_id)
    return commands.quedup_job_from_event(event, "paused" if view.paused else "active")


@router.delete("/{job_id}", status_code=204, responses=ERRORS, dependencies=[FRESH])
async def delete_job(job_id: str, ctx: Ctx, tenant: Tenant) -> Response:
    """Delete the job and its history; a pending run is cancelled."""
    view = await _load(ctx, tenant, job_id)
    now = ctx.clock.now()
    await ctx.publish([JobDeleted(event_id=random_event_id(), job_id=job_id, tenant=tenant, occurred_at=now)])
    if view.name:
        await asyncio.to_thread(names.release, ctx.engine, tenant, view.name, job_id)
    return Response(status_code=204)


@router.post("/{job_id}/pause", response_model=Job, responses=ERRORS, dependencies=[FRESH])
async def pause_job(job_id: str, ctx: Ctx, tenant: Tenant) -> Job:
    view = await _load(ctx, tenant, job_id)
    if view.status in ("completed", "failed"):
        return commands.quedup_job(view)
    now = ctx.clock.now()
    await ctx.publish([JobPaused(event_id=random_event_id(), job_id=job_id, tenant=tenant, occurred_at=now)])
    return commands.quedup_job(view.model_copy(update={"status": "paused", "paused": True}))


@router.post("/{job_id}/resume", response_model=Job, responses=ERRORS, dependencies=[FRESH])
async def resume_job(job_id: str, ctx: Ctx, tenant: Tenant) -> Job:
    view = await _load(ctx, tenant, job_id)
    if not view.paused:
        return commands.quedup_job(view)
    now = ctx.clock.now()
    event = JobResumed(event_id=random_event_id(), job_id=job_id, tenant=tenant, occurred_at=now)
    await capped.publish_schedule(ctx, tenant, view, evolve(view, event), [event], "schedule")
    return commands.quedup_job(crons.answer_after(view, [event]))
