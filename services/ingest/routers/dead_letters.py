"""Recuro's dead letters: ``/api/dead-letters``. Jobs whose retries ran out, listed, replayed, deleted, purged.

Every change is an event (``DeadLetterReplayed`` with the fresh job's ``JobPushed``; ``JobPurged``), appended in
one transaction per call; the projector applies it and the timer cancels the dead letter's retention purge.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Response

from chronohook.ids import queue_id, recuro_job_key
from chronohook.readmodel.dead_letters import (
    DeadLetter,
    dead_letters_by_id,
    job_views,
    list_dead_letters,
    oldest_dead_letters,
)
from schemas.codec import encode_event
from schemas.events import Envelope
from services.ingest import dead_letters as dl
from services.ingest.context import Ctx, IngestContext, Tenant
from services.ingest.errors import RECURO_RESPONSES, Conflict, NotFound, RecuroErrorBody, Responses, invalid_input
from services.ingest.fresh_reads import FRESH
from services.ingest.pagination import Page, Paging, laravel_page
from services.ingest.paths import IntegerId

router = APIRouter(prefix="/api/dead-letters", tags=["Recuro dead letters"])
NOT_FOUND: Responses = {404: {"model": RecuroErrorBody, "description": "No such dead letter for this tenant"}}
CONFLICT: Responses = {409: {"model": RecuroErrorBody, "description": "The dead letter was replayed already"}}
QueueFilter = Annotated[str | None, Query(min_length=1, max_length=255, description="Only this queue's.")]


async def _dead_letter(ctx: IngestContext, tenant: str, job_id: int) -> DeadLetter:
    key = recuro_job_key(job_id)
    found = await asyncio.to_thread(dead_letters_by_id, ctx.engine, tenant, [key])
    if key not in found:
        raise NotFound("Dead letter not found.")
    return found[key]


def _queue_required(queue: str | None) -> str:
    if queue is None:
        raise invalid_input({"queue": ["The queue field is required."]})
    return queue


@router.get("", response_model=Page[dl.DeadLetterResponse], responses=RECURO_RESPONSES, dependencies=[FRESH])
async def list_(ctx: Ctx, tenant: Tenant, paging: Paging, queue: QueueFilter = None) -> Page[dl.DeadLetterResponse]:
    """The tenant's dead letters (jobs whose retries ran out, not replayed), newest first, a page at a time."""
    qid = None if queue is None else queue_id(tenant, queue)
    letters, total = await asyncio.to_thread(list_dead_letters, ctx.engine, tenant, qid, paging.per_page, paging.offset)
    return laravel_page(paging, [dl.dead_letter_response(d) for d in letters], total)


@router.post(
    "/{job_id:id}/replay",
    status_code=201,
    response_model=dl.ReplayResponse,
    responses=RECURO_RESPONSES | NOT_FOUND | CONFLICT,
    dependencies=[FRESH],
)
async def replay(job_id: IntegerId, ctx: Ctx, tenant: Tenant) -> dl.ReplayResponse:
    """Replay a dead letter as a fresh job: a new id, attempt 1, due now, with the same request, queue, payload and
    callback. A dead letter is replayed once: a second replay is a 409 naming the first replay's job."""
    letter = await _dead_letter(ctx, tenant, job_id)
    if letter.replayed_job_id is not None:
        raise Conflict(f"The dead letter was replayed already, as job {letter.replayed_job_id.removeprefix('rj_')}.")
    views = await asyncio.to_thread(job_views, ctx.engine, tenant, [letter.job_id])
    if letter.job_id not in views:
        raise NotFound("Dead letter not found.")
    replayed, pushed = dl.replay_events(letter, views[letter.job_id], ctx.clock.now())
    await ctx.publish([replayed, pushed], atomically=True)
    return dl.replay_response(letter, pushed)


@router.post("/replay", response_model=dl.BulkReplayResponse, responses=RECURO_RESPONSES, dependencies=[FRESH])
async def replay_many(req: dl.BulkReplayRequest, ctx: Ctx, tenant: Tenant) -> dl.BulkReplayResponse:
    """Replay a queue's dead letters (``{"queue": ...}``, oldest first, up to 1,000 per call: ``remaining`` says
    how many are left) or the listed ones (``{"job_ids": [...]}``, up to 1,000). Each becomes a fresh job as
    ``POST /api/dead-letters/{id}/replay`` makes it; ids that are not (or no longer) dead letters are ``skipped``,
    and so are those past one call's size budget (the batch limit, 16 MiB by default) as ``deferred``.
    All of one call's jobs are appended in one transaction: a 503 means none was replayed."""
    if (req.queue is None) == (req.job_ids is None):
        message = "Exactly one of queue or job_ids is required."
        raise invalid_input({"queue": [message], "job_ids": [message]})
    skipped: list[dl.Skipped] = []
    remaining = 0
    if req.queue is not None:
        letters, total = await asyncio.to_thread(
            oldest_dead_letters, ctx.engine, tenant, queue_id(tenant, req.queue), dl.BULK_MAX
        )
        remaining = total - len(letters)
    else:
        ids = list(dict.fromkeys(req.job_ids or []))
        found = await asyncio.to_thread(dead_letters_by_id, ctx.engine, tenant, [recuro_job_key(i) for i in ids])
        letters = []
        for i in ids:
            letter = found.get(recuro_job_key(i))
            if letter is None:
                skipped.append(dl.Skipped(job_id=i, reason="not_found"))
            elif letter.replayed_job_id is not None:
                skipped.append(dl.Skipped(job_id=i, reason="already_replayed"))
            else:
                letters.append(letter)
    views = await asyncio.to_thread(job_views, ctx.engine, tenant, [d.job_id for d in letters])
    now = ctx.clock.now()
    events: list[Envelope] = []
    answers: list[dl.ReplayResponse] = []
    budget = ctx.settings.max_batch_request_bytes  # one call's transaction stays as large as a batch push at most
    for index, letter in enumerate(letters):
        view = views.get(letter.job_id)
        if view is None:  # purged between the two reads
            skipped.append(dl.Skipped(job_id=letter.integer_id, reason="not_found"))
            continue
        replayed, pushed = dl.replay_events(letter, view, now)
        budget -= len(encode_event(pushed))
        if budget < 0 and answers:
            # The rest waits for the next call: a queue's count as remaining, listed ids as deferred.
            later = letters[index:]
            remaining += len(later) if req.queue is not None else 0
            if req.queue is None:
                skipped += [dl.Skipped(job_id=d.integer_id, reason="deferred") for d in later]
            break
        events += [replayed, pushed]
        answers.append(dl.replay_response(letter, pushed))
    if events:
        await ctx.publish(events, atomically=True)
    return dl.BulkReplayResponse(count=len(answers), jobs=answers, skipped=skipped, remaining=remaining)


@router.delete("/{job_id:id}", status_code=204, responses=RECURO_RESPONSES | NOT_FOUND, dependencies=[FRESH])
async def delete(job_id: IntegerId, ctx: Ctx, tenant: Tenant) -> Response:
    """Delete a dead letter: the job, its retries and all their runs are gone from every read (``GET
    /api/jobs/{id}`` answers 404). A replayed dead letter can be deleted too; its replay stays."""
    letter = await _dead_letter(ctx, tenant, job_id)
    await ctx.publish([dl.purge_event(letter, "deleted", ctx.clock.now())])
    return Response(status_code=204)


@router.delete("", response_model=dl.PurgeResponse, responses=RECURO_RESPONSES, dependencies=[FRESH])
async def purge(ctx: Ctx, tenant: Tenant, queue: QueueFilter = None) -> dl.PurgeResponse:
    """Purge a queue's dead letters (``?queue=`` is required), oldest first, up to 1,000 per call (``remaining``
    says how many are left); each is deleted as ``DELETE /api/dead-letters/{id}`` deletes one."""
    name = _queue_required(queue)
    letters, total = await asyncio.to_thread(
        oldest_dead_letters, ctx.engine, tenant, queue_id(tenant, name), dl.BULK_MAX
    )
    now = ctx.clock.now()
    if letters:
        await ctx.publish([dl.purge_event(d, "queue_purged", now) for d in letters], atomically=True)
    return dl.PurgeResponse(
        purged=len(letters), job_ids=[d.integer_id for d in letters], remaining=total - len(letters)
    )
