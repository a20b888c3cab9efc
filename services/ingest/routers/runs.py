"""Runs, every attempt recorded: ``/api/jobs/{id}/runs``, ``/api/crons/{id}/runs`` (Recuro), ``/jobs/{id}/runs``
(QuedUp). Newest first; each family pages as its lists do (services/ingest/pagination.py)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query

from chronohook.ids import recuro_job_key
from chronohook.readmodel.runs import runs_page
from chronohook.readmodel.store import ReadModelStore
from chronohook.readmodel.views import JobView
from services.ingest.context import Ctx, Tenant
from services.ingest.errors import QUEDUP_RESPONSES, RECURO_RESPONSES, NotFound, RecuroErrorBody, Responses
from services.ingest.fresh_reads import FRESH
from services.ingest.models import QuedupRun, RecuroRunResponse
from services.ingest.pagination import Page, Paging, laravel_page
from services.ingest.paths import IntegerId
from services.ingest.routers.recuro_crons import load_cron
from services.ingest.runs import quedup_run, recuro_run

router = APIRouter(tags=["Runs"])
RECURO_ERRORS: Responses = RECURO_RESPONSES | {
    404: {"model": RecuroErrorBody, "description": "No such job or cron for this tenant (or it was deleted)"}
}
# A retry chain is at most the original and 10 retries (a queue's retry_delays); the walk is bounded anyway.
MAX_CHAIN = 16


def retry_chain(store: ReadModelStore, tenant: str, view: JobView) -> list[str]:
    """``view``'s job and the retries after it (each a job of its own), as far as they are projected."""
    chain = [view.job_id]
    current: JobView | None = view
    while current is not None and current.retry_job_id is not None and len(chain) < MAX_CHAIN:
        chain.append(current.retry_job_id)
        current = store.job(tenant, current.retry_job_id)
    return chain


@router.get(
    "/api/jobs/{job_id:id}/runs", response_model=Page[RecuroRunResponse], responses=RECURO_ERRORS, dependencies=[FRESH]
)
async def recuro_job_runs(job_id: IntegerId, ctx: Ctx, tenant: Tenant, paging: Paging) -> Page[RecuroRunResponse]:
    """The runs of the job and of its retries (each run names its job record in `job_id`), newest first;
    `?page=` and `?per_page=` (1-100, default 15), as Laravel paginates."""
    key = recuro_job_key(job_id)
    view = await asyncio.to_thread(ctx.store.job, tenant, key)
    if view is None:
        raise NotFound("Job not found.")
    chain = await asyncio.to_thread(retry_chain, ctx.store, tenant, view)
    found = await asyncio.to_thread(runs_page, ctx.engine, tenant, chain, paging.per_page, paging.offset)
    return laravel_page(paging, [recuro_run(r) for r in found.runs], found.total)


@router.get(
    "/api/crons/{cron_id:id}/runs",
    response_model=Page[RecuroRunResponse],
    responses=RECURO_ERRORS,
    dependencies=[FRESH],
)
async def recuro_cron_runs(cron_id: IntegerId, ctx: Ctx, tenant: Tenant, paging: Paging) -> Page[RecuroRunResponse]:
    """The cron's runs, one per occurrence, newest first; `?page=` and `?per_page=` (1-100, default 15)."""
    view = await load_cron(ctx, tenant, cron_id)
    found = await asyncio.to_thread(runs_page, ctx.engine, tenant, [view.job_id], paging.per_page, paging.offset)
    return laravel_page(paging, [recuro_run(r) for r in found.runs], found.total)


@router.get("/jobs/{job_id}/runs", response_model=list[QuedupRun], responses=QUEDUP_RESPONSES, dependencies=[FRESH])
async def quedup_job_runs(
    job_id: str,
    ctx: Ctx,
    tenant: Tenant,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[QuedupRun]:
    """The job's runs (retries included: a QuedUp retry is another attempt of the same job), newest first;
    `?limit=` (1-1000, default 100) and `?offset=`, as `GET /jobs` pages."""
    view = await asyncio.to_thread(ctx.store.job, tenant, job_id)
    if view is None or view.api != "quedup":
        raise NotFound(f"Job {job_id} not found.")
    found = await asyncio.to_thread(runs_page, ctx.engine, tenant, [job_id], limit, offset)
    return [quedup_run(r) for r in found.runs]
