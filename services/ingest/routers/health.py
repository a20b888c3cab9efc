"""Liveness, readiness, the version and the API's metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from chronohook.clock import to_ms
from chronohook.heartbeats import WATCHED, read_beats, stalled
from chronohook.metrics import api_registry, exposition
from chronohook.store.engine import ping
from chronohook.version import version
from services.ingest.context import Ctx
from services.ingest.models import Health, VersionInfo

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)
OK = "ok"
DOWN = "unavailable"
STALLED = "stalled"


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(ctx: Ctx) -> JSONResponse:
    """Kafka and the database both answer (each `ok` or `unavailable`, the reason in the service's log), and no timer,
    executor or projector process has stopped making progress: one whose heartbeat is older than
    `CHRONOHOOK_HEARTBEAT_STALE_S` makes this 503, named in `stalled` (decision 0042)."""
    kafka = await _probe("kafka", ctx.log.ping)
    database = await _probe("database", lambda: ping(ctx.engine))
    services: dict[str, str] = {}
    stuck: list[str] = []
    if database == OK:
        services, stuck = await _services(ctx)
    ready = kafka == OK and database == OK and not stuck
    body = Health(
        status="ready" if ready else "unavailable",
        kafka=kafka,
        database=database,
        services=services or None,
        stalled=stuck or None,
    )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=200 if ready else 503)


@router.get("/version", response_model=VersionInfo)
async def get_version() -> VersionInfo:
    """The version this process runs (no token needed: `/openapi.json` tells it too)."""
    return VersionInfo(version=version())


# Undocumented in the OpenAPI document (it is for Prometheus, not API clients): docs/operations.md describes it.
@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Prometheus metrics of every API process on this port, in Prometheus' text format (no token needed: counts and
    timings, no tenant's data; docs/operations.md lists them, decision 0042)."""
    body, kind = await asyncio.to_thread(lambda: exposition(api_registry()))
    return Response(body, media_type=kind)


async def _services(ctx: Ctx) -> tuple[dict[str, str], list[str]]:
    settings = ctx.settings
    try:
        beats = await asyncio.to_thread(read_beats, ctx.engine)
    except Exception:  # the database answered the ping: a read failing now is logged, and readiness not decided on it
        log.warning("readiness: the services' heartbeats could not be read", exc_info=True)
        return {}, []
    now_ms = to_ms(ctx.clock.now())
    found = stalled(beats, now_ms, settings.heartbeat_stale_s, settings.heartbeat_gone_s)
    counted = {b.service for b in beats if (now_ms - b.beat_ms) / 1000 <= settings.heartbeat_gone_s}
    stuck = {s.service for s in found}
    services = {name: STALLED if name in stuck else OK for name in WATCHED if name in counted}
    return services, [s.describe() for s in found if s.service in WATCHED]


async def _probe(name: str, check: Callable[[], None]) -> str:
    try:
        await asyncio.to_thread(check)
    except Exception:  # the probe's whole point: say which one is down; its error text is internal, so log it
        log.warning("readiness: %s is unavailable", name, exc_info=True)
        return DOWN
    return OK
