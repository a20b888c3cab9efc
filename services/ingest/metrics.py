"""The API's metrics (decision 0042), pooled across the ingest processes sharing its port when
``CHRONOHOOK_API_METRICS_DIR`` is set (prometheus-client's multiprocess mode; chronohook/metrics.py).

- ``chronohook_jobs_created_total{queue}``: jobs the API accepted (QuedUp jobs, Recuro jobs and crons), counted once
  the job log acknowledged them; ``queue`` bounded by ``CHRONOHOOK_METRICS_QUEUES`` (``none``: no queue).
- ``chronohook_http_request_duration_seconds{method, route, status}``: every API request, by its route's template
  (``/api/jobs/{job_id}``: never an id), ``unmatched`` for a path no route serves.
- ``chronohook_refusals_total{reason}``: ``quota`` (a tenant's creation rate or pending-job cap: 429) and
  ``body_size`` (413).

Served at ``GET /metrics`` on the API port, without a token: it holds counts and timings only, no tenant, job, token
or queue name (unless the operator lists queue names in ``CHRONOHOOK_METRICS_QUEUES``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chronohook.metrics import NAMESPACE, REFUSALS, QueueLabels, children
from schemas.events import Envelope, JobCreated, JobPushed

CREATED = Counter(f"{NAMESPACE}_jobs_created", "Jobs the API accepted (the job log acknowledged them).", ["queue"])
HTTP_DURATION = Histogram(
    f"{NAMESPACE}_http_request_duration_seconds",
    "API requests, by method, route template and status.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
REFUSED = {429: REFUSALS.labels("quota"), 413: REFUSALS.labels("body_size")}
# A client may send any method token: the label takes these, "other" for the rest (bounded, like the routes).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class CreatedJobs:
    """Counts the new jobs among the events a write published, on label children made once."""

    def __init__(self, queues: QueueLabels) -> None:
        self.queue = queues
        self.counters = children(CREATED, queues.values)

    def count(self, events: Iterable[Envelope]) -> None:
        for event in events:
            if isinstance(event, JobPushed):
                self.counters[self.queue(event.queue)].inc()
            elif isinstance(event, JobCreated):
                self.counters[self.queue(None)].inc()


class HttpMetrics:
    """ASGI middleware (outermost): each request's duration by method, route template and status; refusals counted."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._children: dict[tuple[str, str, int], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path_format", None) or "unmatched"
            method = scope.get("method", "")
            key = (method if method in METHODS else "other", template, status)
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = HTTP_DURATION.labels(key[0], template, str(status))
            child.observe(time.perf_counter() - started)
            refused = REFUSED.get(status)
            if refused is not None:
                refused.inc()
