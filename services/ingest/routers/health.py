"""Liveness, readiness and the version."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from chronohook.store.engine import ping
from chronohook.version import version
from services.ingest.context import Ctx
from services.ingest.models import Health, VersionInfo

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)
OK = "ok"
DOWN = "unavailable"


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(ctx: Ctx) -> JSONResponse:
    """Kafka and the database both answer: each is `ok` or `unavailable` (the reason goes to the service's log)."""
    kafka = await _probe("kafka", ctx.log.ping)
    database = await _probe("database", lambda: ping(ctx.engine))
    ready = kafka == OK and database == OK
    body = Health(status="ready" if ready else "unavailable", kafka=kafka, database=database)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/version", response_model=VersionInfo)
async def get_version() -> VersionInfo:
    """The version this process runs (no token needed: `/openapi.json` tells it too)."""
    return VersionInfo(version=version())


async def _probe(name: str, check: Callable[[], None]) -> str:
    try:
        await asyncio.to_thread(check)
    except Exception:  # the probe's whole point: say which one is down; its error text is internal, so log it
        log.warning("readiness: %s is unavailable", name, exc_info=True)
        return DOWN
    return OK
