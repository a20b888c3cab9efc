"""Recuro's crons: ``/api/crons``."""

from __future__ import annotations

from fastapi import APIRouter

from services.ingest import commands
from services.ingest import validation as v
from services.ingest.context import Ctx, Tenant
from services.ingest.errors import RECURO_RESPONSES, PayloadTooLarge, RecuroErrorBody, invalid_input
from services.ingest.idempotency import NewIds
from services.ingest.models import CreateCronRequest, CronResponse

router = APIRouter(prefix="/api/crons", tags=["Recuro crons"])


ERRORS = RECURO_RESPONSES | {413: {"model": RecuroErrorBody, "description": commands.TOO_LARGE}}


@router.post("", status_code=201, response_model=CronResponse, responses=ERRORS)
async def create_cron(req: CreateCronRequest, ctx: Ctx, tenant: Tenant, ids: NewIds) -> CronResponse:
    """Create a recurring HTTP request on a 5-field cron expression (UTC)."""
    urls = {"url": req.url, "callback_url": req.callback_url}
    if errors := v.egress_errors(v.egress_policy(ctx.settings.egress_allow), urls):
        raise invalid_input(errors)
    event = commands.create_recuro_cron(req, tenant, ids.integer(), ids.now)
    if (why := commands.over_budget(event)) is not None:
        raise PayloadTooLarge(why)
    await ctx.publish([event])
    return commands.recuro_cron(event)
