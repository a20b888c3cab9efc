"""Schedules judged in their zone, off the event loop, and counted by the create rate (decision 0031).

``ScheduleChecked`` is a dependency of the routes that set a schedule (POST, PUT and PATCH ``/jobs``; POST and PATCH
``/api/crons``). Before the route runs it reads the schedule and zone the request asks for (a PATCH: with the stored
ones it leaves as they are), and asks ``Schedule.parse`` in a worker thread whether it fires at all from now: a
schedule whose every match falls in a daylight-saving gap of its zone (``30 2 * 3 L0`` in Europe/Berlin) or on a date
no calendar has is refused with a 422 on the schedule's field, and takes one token of the tenant's create rate, as a
create would (so a tenant cannot ask for it without limit). Anything else wrong with the fields (a bad expression, an
unknown zone, a wrong type) is left to the request model, which reports it in the usual shape.

``handle_schedule_error`` answers the same 422 for a ``ScheduleError`` raised by a route itself (the search is
bounded, so that costs at most a few milliseconds of the loop); it is the net under the dependency.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from chronohook.ids import recuro_cron_key
from chronohook.schedule import DEFAULT_TIMEZONE, NeverFires, Schedule, ScheduleError
from services.ingest.auth import TENANT_SCOPE_KEY
from services.ingest.context import Ctx, IngestContext, Tenant
from services.ingest.errors import InvalidInput, TooManyRequests, handle_ingest_error, invalid_input, is_recuro


def schedule_field(path: str) -> str:
    """The schedule's field in the family's bodies."""
    return "cron_expression" if is_recuro(path) else "schedule"


def never_fires(path: str, exc: ScheduleError) -> InvalidInput:
    field = schedule_field(path)
    return invalid_input({field: [f"The {field} field must be a valid cron expression: {exc}."]})


async def count_refusal(ctx: IngestContext, tenant: str) -> None:
    """A refused schedule takes a token of the tenant's create rate, as the create would have (TooManyRequests when
    none is left). It may count as one pending job too, until the pending count is next taken (about a second)."""
    await ctx.quotas.admit(tenant, 1)


def _asked(request: Request, body: dict[str, Any], stored: tuple[str | None, str] | None) -> tuple[Any, Any] | None:
    """The (expression, zone) the request leaves the job with, or None when it sets no schedule."""
    field = schedule_field(request.url.path)
    if field not in body and "timezone" not in body:
        return None
    if stored is None:  # a create or a replace: the body alone
        return body.get(field), body.get("timezone") or DEFAULT_TIMEZONE
    expression, timezone = stored
    if is_recuro(request.url.path):  # Recuro's PATCH: an empty or null value keeps the stored one
        return body.get(field) or expression, body.get("timezone") or timezone
    # QuedUp's PATCH: a null schedule clears it, a null zone sets UTC back
    return (
        body.get(field, expression),
        (body["timezone"] or DEFAULT_TIMEZONE) if "timezone" in body else timezone,
    )


async def _stored(request: Request, ctx: IngestContext, tenant: str) -> tuple[str | None, str] | None:
    params = request.path_params
    key = recuro_cron_key(params["cron_id"]) if "cron_id" in params else params.get("job_id")
    if not isinstance(key, str):
        return None
    view = await asyncio.to_thread(ctx.store.job, tenant, key)
    return None if view is None else (view.schedule, view.timezone)


def _fires(expression: str, timezone: str, at: datetime) -> NeverFires | None:
    try:
        Schedule.parse(expression, timezone, at=at)
    except NeverFires as exc:
        return exc
    except ScheduleError:
        return None  # the request model words these
    return None


async def check_schedule(request: Request, ctx: Ctx, tenant: Tenant) -> None:
    try:
        body = await request.json()  # FastAPI parsed it already for the route's model: this is its cached copy
    except Exception:
        return
    if not isinstance(body, dict):
        return
    stored = None
    if request.method == "PATCH":
        stored = await _stored(request, ctx, tenant)
        if stored is None:
            return  # no such job: the route's 404
    asked = _asked(request, body, stored)
    if asked is None or not isinstance(asked[0], str) or not isinstance(asked[1], str):
        return
    refused = await asyncio.to_thread(_fires, asked[0], asked[1], ctx.clock.now())
    if refused is not None:
        await count_refusal(ctx, tenant)
        raise never_fires(request.url.path, refused)


ScheduleChecked = Annotated[None, Depends(check_schedule)]


async def handle_schedule_error(request: Request, exc: Exception) -> JSONResponse:
    """A ScheduleError a route raised (NeverFires from ``first_due``, say): the same 422, counted the same way."""
    assert isinstance(exc, ScheduleError)
    tenant = request.scope.get(TENANT_SCOPE_KEY)
    ctx = request.app.state.ctx
    if isinstance(exc, NeverFires) and isinstance(tenant, str) and isinstance(ctx, IngestContext):
        try:
            await count_refusal(ctx, tenant)
        except TooManyRequests as limited:
            return await handle_ingest_error(request, limited)
    return await handle_ingest_error(request, never_fires(request.url.path, exc))
