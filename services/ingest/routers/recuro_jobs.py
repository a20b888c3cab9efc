"""Recuro's queue jobs: ``/api/jobs``."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from chronohook.ids import recuro_job_key
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
