"""Recuro's alerts: where a tenant's alerts are sent (``/api/alert-destination``) and the list of them
(``/api/alerts``). Decision 0020."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from chronohook.clock import iso8601_offset
from chronohook.ids import MAX_SAFE_INTEGER, random_event_id
from chronohook.readmodel.alerts import AlertView, alert_destination, destination_key, list_alerts
from schemas.events import AlertDestinationCleared, AlertDestinationSet
from services.ingest import validation as v
from services.ingest.context import Ctx, Tenant
from services.ingest.errors import RECURO_RESPONSES, NotFound, RecuroErrorBody, Responses, invalid_input
from services.ingest.fresh_reads import FRESH
from services.ingest.models import Request, Url
from services.ingest.pagination import Page, Paging, laravel_page
from services.ingest.secrets import no_store

router = APIRouter(tags=["Recuro alerts"])
NO_STORE = Depends(no_store)

NOT_SET: Responses = {404: {"model": RecuroErrorBody, "description": "No alert destination is set"}}


class AlertDestinationRequest(Request):
    """Where alerts go: a URL (the egress rules of job URLs apply) and the body's shape."""

    url: Url
    format: Literal["json", "slack"] = "json"


class AlertDestinationResponse(BaseModel):
    url: str
    format: Literal["json", "slack"]
    updated_at: str


class AlertResponse(BaseModel):
    id: str
    kind: Literal["warning", "failure", "recovery"]
    cron_id: int | None
    name: str | None
    queue: str | None
    queue_id: int | None
    consecutive_failures: int
    alert_threshold: int
    run_id: str
    response_status: int | None
    failure_reason: str | None
    error_message: str | None
    raised_at: str
    delivery_status: Literal["pending", "retrying", "delivered", "abandoned"]
    delivery_attempts: int


def _alert(view: AlertView) -> AlertResponse:
    a = view.alert
    return AlertResponse(
        id=view.alert_id,
        kind=a.kind,
        cron_id=a.cron_id,
        name=a.name,
        queue=a.queue,
        queue_id=a.queue_id,
        consecutive_failures=a.consecutive_failures,
        alert_threshold=a.alert_threshold,
        run_id=a.run_id,
        response_status=a.response_status,
        failure_reason=a.failure_reason,
        error_message=a.error_message,
        raised_at=iso8601_offset(a.raised_at),
        delivery_status=view.delivery_status,
        delivery_attempts=view.delivery_attempts,
    )


@router.put(
    "/api/alert-destination",
    response_model=AlertDestinationResponse,
    responses=RECURO_RESPONSES,
    dependencies=[NO_STORE],  # a Slack-style URL is a credential (decision 0044)
)
async def set_alert_destination(req: AlertDestinationRequest, ctx: Ctx, tenant: Tenant) -> AlertDestinationResponse:
    """Send this tenant's alerts to ``url``: Recuro-style JSON, or ``format: "slack"`` for ``{"text": ...}``."""
    if errors := v.egress_errors(v.egress_policy(ctx.settings.egress_allow), {"url": req.url}):
        raise invalid_input(errors)
    now = ctx.clock.now()
    event = AlertDestinationSet(
        event_id=random_event_id(),
        job_id=destination_key(tenant),
        tenant=tenant,
        occurred_at=now,
        url=req.url,
        format=req.format,
    )
    await ctx.publish([event])
    return AlertDestinationResponse(url=req.url, format=req.format, updated_at=iso8601_offset(now))


@router.get(
    "/api/alert-destination",
    response_model=AlertDestinationResponse,
    responses=RECURO_RESPONSES | NOT_SET,
    dependencies=[FRESH, NO_STORE],
)
async def get_alert_destination(ctx: Ctx, tenant: Tenant) -> AlertDestinationResponse:
    """Where this tenant's alerts go; 404 when none is set."""
    found = await asyncio.to_thread(alert_destination, ctx.engine, tenant)
    if found is None:
        raise NotFound("No alert destination is set.")
    return AlertDestinationResponse(url=found.url, format=found.format, updated_at=iso8601_offset(found.updated_at))


@router.delete("/api/alert-destination", status_code=204, responses=RECURO_RESPONSES)
async def delete_alert_destination(ctx: Ctx, tenant: Tenant) -> Response:
    """Stop sending alerts (they are still raised and listed); answers 204 whether or not one was set."""
    event = AlertDestinationCleared(
        event_id=random_event_id(), job_id=destination_key(tenant), tenant=tenant, occurred_at=ctx.clock.now()
    )
    await ctx.publish([event])
    return Response(status_code=204)


@router.get("/api/alerts", response_model=Page[AlertResponse], responses=RECURO_RESPONSES, dependencies=[FRESH])
async def get_alerts(
    ctx: Ctx,
    tenant: Tenant,
    paging: Paging,
    cron_id: Annotated[int | None, Query(ge=1, le=MAX_SAFE_INTEGER, description="Only this cron's alerts.")] = None,
    queue: Annotated[str | None, Query(max_length=255, description="Only this queue's alerts.")] = None,
) -> Page[AlertResponse]:
    """The tenant's alerts, newest first, with where each one's POST stands; ``?page=``, ``?per_page=``."""
    found, total = await asyncio.to_thread(
        list_alerts, ctx.engine, tenant, paging.per_page, paging.offset, cron_id, queue
    )
    return laravel_page(paging, [_alert(a) for a in found], total)
