"""The API's access log and its ingest span (decision 0043): one line per request, outermost of the middlewares.

The line (logger ``chronohook.access``, INFO) names the method, the route's path template (``/api/jobs/{job_id}``:
never the ids, and never the query string) or, for a path no route matched, the path without its query string, the
status, the duration, the tenant once the token was checked, and the request id (the client's ``X-Request-Id``
when it sends a short plain one, else a fresh one), which the answer carries back. Never a header: the token stays
out. With tracing on (chronohook/tracing.py) the request is a server span, child of the caller's ``traceparent``
when it sends one: the events it appends carry its context on to the timer and the executor.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chronohook import tracing
from services.ingest.auth import TENANT_SCOPE_KEY

log = logging.getLogger("chronohook.access")

REQUEST_ID_HEADER: Final = b"x-request-id"
_PLAIN_ID: Final = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")
# A path no route matched is logged cut to this length.
MAX_PATH_LOGGED: Final = 200


def request_id(scope: Scope) -> str:
    """The client's X-Request-Id when short and plain (letters, digits, ``._:-``), else a fresh one."""
    for name, value in scope.get("headers") or ():
        if name.lower() == REQUEST_ID_HEADER and _PLAIN_ID.match(value):
            return bytes(value).decode("ascii")
    return uuid.uuid4().hex


def route_of(scope: Scope) -> str:
    """The matched route's path template, else the path (never the query string), cut short."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str):
        return template
    return str(scope.get("path", ""))[:MAX_PATH_LOGGED]


class AccessLog:
    """ASGI middleware: the access-log line of every HTTP request, and its server span when tracing is on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(scope)
        status = 500  # an exception before the answer started: the server answers 500
        method = scope.get("method", "")

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (REQUEST_ID_HEADER, rid.encode())]
            await send(message)

        parent = tracing.traceparent_in(scope.get("headers") or ()) if tracing.enabled() else None
        with tracing.span("ingest request", parent, kind="SERVER", attributes={"http.request.method": method}) as span:
            try:
                await self.app(scope, receive, answer)
            finally:
                route = route_of(scope)
                tenant = scope.get(TENANT_SCOPE_KEY)
                if span is not None:
                    _describe(span, method, route, status, tenant)
                duration_ms = (time.perf_counter() - started) * 1000
                log.info(
                    "%s %s %d %.1f ms",
                    method, route, status, duration_ms,
                    extra={"method": method, "path": route, "status": status, "duration_ms": round(duration_ms, 3),
                           "tenant": tenant, "request_id": rid},
                )  # fmt: skip


def _describe(span: Any, method: str, route: str, status: int, tenant: str | None) -> None:
    span.update_name(f"ingest {method} {route}")
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if tenant is not None:
        span.set_attribute("chronohook.tenant", tenant)
