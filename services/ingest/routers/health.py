"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from chronohook.store.engine import ping
from services.ingest.context import Ctx
from services.ingest.models import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(ctx: Ctx) -> JSONResponse:
    """Kafka and the database both answer."""
    kafka = database = "ok"
    try:
        await asyncio.to_thread(ctx.log.ping)
    except Exception as exc:  # reported in the body, the probe's whole point
        kafka = f"unreachable: {exc}"
    try:
        await asyncio.to_thread(ping, ctx.engine)
    except Exception as exc:
        database = f"unreachable: {exc}"
    ready = kafka == "ok" and database == "ok"
    body = Health(status="ready" if ready else "unavailable", kafka=kafka, database=database)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
