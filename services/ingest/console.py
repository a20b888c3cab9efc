"""The web console at ``/console``: a small static app (plain JavaScript modules, no build step) shipped in this
package (``services/ingest/static/console``), which calls the public API with the user's token (decision 0046).

The pages and their assets hold no data and need no token (services/ingest/auth.py lets ``/console`` and
``/console/...`` through, except ``/console/api/``); everything a page shows it fetches from the API with the token
the user gave, kept in the browser's ``sessionStorage``, so one tenant never sees another's. Every console response
carries a strict Content-Security-Policy: scripts and styles from this origin only, nothing inline, no frames.

One read the public API has no endpoint for lives here, behind the token like the API: a schedule's next
occurrences (``GET /console/api/schedules/{id}/occurrences``), computed by the timer's own ``Schedule.next_after``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.responses import Response
from starlette.types import Scope

from chronohook.ids import recuro_cron_key
from chronohook.schedule import Schedule, ScheduleError, zone
from services.ingest.auth import CONSOLE_API_PREFIX, CONSOLE_PATH
from services.ingest.context import Ctx, Tenant
from services.ingest.errors import NotFound

CONSOLE_DIR = Path(__file__).resolve().parent / "static" / "console"
ASSETS_PREFIX = CONSOLE_PATH + "/assets"
API_PREFIX = CONSOLE_API_PREFIX
# The app's pages: each answers the same shell (index.html); the app routes on the path in the browser.
PAGES = ("/", "/queues", "/crons", "/dead-letters", "/settings")
OCCURRENCES_MAX = 20

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def secure(response: Response, cache: str = "no-store") -> Response:
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = cache
    return response


class ConsoleAssets(StaticFiles):
    """The app's scripts and styles, with the console's security headers (a module is revalidated on each load)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        return secure(await super().get_response(path, scope), cache="no-cache")


class Occurrences(BaseModel):
    schedule: str = Field(description="The cron expression, as the job or cron carries it.")
    timezone: str = Field(description="The IANA zone it is read in.")
    occurrences: list[str] = Field(description="The next instants, ISO 8601 with the zone's offset.")


def _root_path(request: Request) -> str:
    # Behind a proxy that mounts the API under a prefix (uvicorn --root-path), as the docs pages do.
    return str(request.scope.get("root_path", "")).rstrip("/")


async def _shell(request: Request) -> Response:
    page = (CONSOLE_DIR / "index.html").read_text(encoding="utf-8").replace("{{root}}", escape(_root_path(request)))
    return secure(HTMLResponse(page))


async def console_root(request: Request) -> Response:
    return secure(RedirectResponse(_root_path(request) + CONSOLE_PATH + "/", status_code=307))


async def occurrences(
    job_id: str,
    ctx: Ctx,
    tenant: Tenant,
    count: Annotated[int, Query(ge=1, le=OCCURRENCES_MAX)] = 5,
) -> Occurrences:
    """The next ``count`` occurrences of the tenant's Recuro cron (an integer id) or scheduled QuedUp job (``job_…``),
    from now, in its zone; an empty list while it is paused."""
    key = recuro_cron_key(int(job_id)) if job_id.isdigit() and len(job_id) <= 16 else job_id
    view = None if "\x00" in key else await asyncio.to_thread(ctx.store.job, tenant, key)
    if view is None or not view.schedule:
        raise NotFound("Schedule not found.")
    found: list[str] = []
    if not view.paused:
        try:
            schedule, tz = Schedule(view.schedule, view.timezone, view.catch_up), zone(view.timezone)
            at: datetime = ctx.clock.now()
            for _ in range(count):
                at = schedule.next_after(at)
                found.append(at.astimezone(tz).isoformat(timespec="seconds"))
        except ScheduleError:
            pass  # a schedule that fires no more: fewer than asked
    return Occurrences(schedule=view.schedule, timezone=view.timezone, occurrences=found)


def add_console(app: FastAPI) -> None:
    """Mount the app's assets and serve its pages; call after ``add_docs_pages`` (services/ingest/docs_ui.py)."""
    app.mount(ASSETS_PREFIX, ConsoleAssets(directory=CONSOLE_DIR / "assets"), name="console-assets")
    # On the app itself (not an included router): every route is then in app.routes, as
    # tests/integration/test_tenants.py reads them. Not in the OpenAPI document: the pages are HTML, the
    # occurrences the console's own read.
    app.add_api_route(CONSOLE_PATH, console_root, methods=["GET"], include_in_schema=False)
    for page in (*PAGES, "/jobs/{job_id}"):
        app.add_api_route(CONSOLE_PATH + page, _shell, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        API_PREFIX + "schedules/{job_id}/occurrences",
        occurrences,
        methods=["GET"],
        response_model=Occurrences,
        include_in_schema=False,
    )
