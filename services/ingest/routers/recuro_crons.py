"""Recuro's crons: ``/api/crons``."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response

from chronohook.ids import random_event_id, recuro_cron_key
from chronohook.readmodel.crons import crons_page
from chronohook.readmodel.views import JobView, evolve
from schemas.events import Envelope, JobDeleted, JobUpdated
from services.ingest import capped, commands, crons
from services.ingest import validation as v
from services.ingest.context import Ctx, IngestContext, Tenant
from services.ingest.errors import (
    RECURO_RESPONSES,
    NotFound,
    PayloadTooLarge,
    RecuroErrorBody,
    Responses,
    invalid_input,
)
from services.ingest.fresh_reads import FRESH
from services.ingest.idempotency import NewIds
from services.ingest.models import CreateCronRequest, CronDetail, CronResponse, UpdateCronRequest
from services.ingest.pagination import Page, Paging, laravel_page
from services.ingest.paths import IntegerId
from services.ingest.schedules import ScheduleChecked

router = APIRouter(prefix="/api/crons", tags=["Recuro crons"])


ERRORS: Responses = RECURO_RESPONSES | {413: {"model": RecuroErrorBody, "description": commands.TOO_LARGE}}
NOT_FOUND: Responses = {
    404: {"model": RecuroErrorBody, "description": "No such cron for this tenant (or it was deleted)"}
}


def _refuse_unsendable(ctx: IngestContext, url: str | None, callback_url: str | None) -> None:
    urls = {"url": url, "callback_url": callback_url}
    if errors := v.egress_errors(v.egress_policy(ctx.settings.egress_allow), urls):
        raise invalid_input(errors)


async def load_cron(ctx: IngestContext, tenant: str, cron_id: int) -> JobView:
    """The tenant's cron ``cron_id`` (after this process's last write of it is projected), else a 404."""
    key = recuro_cron_key(cron_id)
    view = await asyncio.to_thread(ctx.store.job, tenant, key)
    if view is None or view.api != "recuro_cron":
        raise NotFound("Cron not found.")
    return view


@router.post("", status_code=201, response_model=CronResponse, responses=ERRORS)
async def create_cron(
    req: CreateCronRequest, ctx: Ctx, tenant: Tenant, _: ScheduleChecked, ids: NewIds
) -> CronResponse:
    """Create a recurring HTTP request on a cron expression (5 fields, or 6 with seconds first), in `timezone`
    (UTC by default)."""
    _refuse_unsendable(ctx, req.url, req.callback_url)
    event = commands.create_recuro_cron(req, tenant, ids.integer(), ids.now)
    if (why := commands.over_budget(event)) is not None:
        raise PayloadTooLarge(why)
    await capped.publish_schedule(ctx, tenant, None, evolve(None, event), [event], "cron_expression")
    return commands.recuro_cron(event)


@router.get("", response_model=Page[CronDetail], responses=ERRORS, dependencies=[FRESH])
async def list_crons(ctx: Ctx, tenant: Tenant, paging: Paging) -> Page[CronDetail]:
    """The tenant's crons, oldest first, ``?page=`` and ``?per_page=`` (1-100, default 15), as Laravel paginates."""
    found = await asyncio.to_thread(crons_page, ctx.engine, tenant, paging.per_page, paging.offset)
    return laravel_page(paging, [crons.cron_detail(c) for c in found.crons], found.total)


@router.get("/{cron_id:id}", response_model=CronDetail, responses=ERRORS | NOT_FOUND, dependencies=[FRESH])
async def get_cron(cron_id: IntegerId, ctx: Ctx, tenant: Tenant) -> CronDetail:
    """The cron's definition, whether it is active, and its next and last runs."""
    return crons.cron_detail(await load_cron(ctx, tenant, cron_id))


@router.patch("/{cron_id:id}", response_model=CronDetail, responses=ERRORS | NOT_FOUND, dependencies=[FRESH])
async def update_cron(
    cron_id: IntegerId, req: UpdateCronRequest, ctx: Ctx, tenant: Tenant, _: ScheduleChecked
) -> CronDetail:
    """Change any create field (validated as at create); `is_active: false` pauses the cron, `true` resumes it.

    A changed definition re-arms the cron from now; resuming skips the occurrences missed while paused.
    """
    view = await load_cron(ctx, tenant, cron_id)
    _refuse_unsendable(ctx, req.url, req.callback_url)
    events = crons.update_recuro_cron(view, req, ctx.clock.now())
    for event in events:
        if isinstance(event, JobUpdated) and (why := commands.over_budget(event, "The cron")) is not None:
            raise PayloadTooLarge(why)
    after = crons.answer_after(view, events)
    if events:
        await capped.publish_schedule(
            ctx, tenant, view, after, list[Envelope](events), "cron_expression", atomically=len(events) > 1
        )
    return crons.cron_detail(after)


@router.delete("/{cron_id:id}", status_code=204, responses=ERRORS | NOT_FOUND, dependencies=[FRESH])
async def delete_cron(cron_id: IntegerId, ctx: Ctx, tenant: Tenant) -> Response:
    """Stop the cron and delete it with its runs; later reads of it are 404."""
    view = await load_cron(ctx, tenant, cron_id)
    event = JobDeleted(event_id=random_event_id(), job_id=view.job_id, tenant=tenant, occurred_at=ctx.clock.now())
    await ctx.publish([event])
    return Response(status_code=204)
