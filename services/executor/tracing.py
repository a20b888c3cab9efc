"""The executor's spans (decision 0043): one per due record it handles, as a child of the context its record carries
(``executor delivery`` for a ``JobDue``, ``callback`` for a ``CallbackDue``), and one client span per HTTP call. The
result events it then appends carry the handling span's context, so the timer's callback follows in the same trace.
Off (no ``CHRONOHOOK_OTLP_ENDPOINT``), ``handling`` is a shared no-op and the sender is not wrapped."""

from __future__ import annotations

import contextlib
from typing import Any

from yarl import URL

from chronohook import tracing
from chronohook.kafka.records import Record
from chronohook.outbound.sender import HttpSender, SendResult
from schemas.events import HttpRequestSpec

SPAN_NAMES = {"JobDue": "executor delivery", "CallbackDue": "callback", "AlertDue": "alert"}


def handling(record: Record) -> contextlib.AbstractContextManager[Any]:
    """The span of handling ``record`` (current for the block); a no-op when tracing is off."""
    if not tracing.enabled():
        return contextlib.nullcontext()
    name = SPAN_NAMES.get(record.type or "", "executor")
    key = record.key.decode(errors="replace") if record.key is not None else ""
    return tracing.span(name, tracing.traceparent_in(record.headers), "CONSUMER", {"chronohook.job_id": key})


class TracedSender:
    """An ``HttpSender`` whose every call is a client span: the method and the host (never the path, query or
    headers, which may hold credentials), the status or the failure's class."""

    def __init__(self, sender: HttpSender) -> None:
        self.sender = sender

    async def send(self, request: HttpRequestSpec, headers: dict[str, str]) -> SendResult:
        try:
            host = URL(request.url).host or ""
        except (ValueError, TypeError):
            host = ""
        attributes = {"http.request.method": request.method, "server.address": host}
        with tracing.span(f"HTTP {request.method}", None, "CLIENT", attributes) as span:
            result = await self.sender.send(request, headers)
            if span is not None:
                if result.status is not None:
                    span.set_attribute("http.response.status_code", result.status)
                if result.failure_reason is not None:
                    span.set_attribute("error.type", result.failure_reason)
            return result

    async def close(self) -> None:
        await self.sender.close()


def traced(sender: HttpSender) -> HttpSender:
    """``sender``, wrapped in client spans when tracing is on."""
    return TracedSender(sender) if tracing.enabled() else sender
