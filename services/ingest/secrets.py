"""Sealing at ingest (decision 0044): every job definition is appended with its sensitive headers' values sealed.

``IngestContext.publish`` passes each batch of events through ``Sealing.seal`` just before the append, so every
writer (create, PATCH, PUT, push, batch, cron, dead-letter replay) seals in one place. A value already sealed (a
PATCH keeps the headers it does not name; a replay copies the dead letter's) is kept as it is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from fastapi import Response
from sqlalchemy import Engine

from chronohook.readmodel.queues import queue_by_name
from chronohook.sealing import KeyRing
from schemas.events import Envelope, HttpRequestSpec, JobCreated, JobPushed, JobUpdated

# A queue's sensitive_headers reach pushes within this many seconds of its PATCH (one read per queue and interval).
QUEUE_NAMES_TTL_S = 5.0
_CACHE_MAX = 10_000
# Events sealed on the event loop at most; a larger batch (up to 1,000 pushes) is sealed in a worker thread.
_IN_LOOP_MAX = 64

QueueNames = Callable[[str, str], tuple[str, ...]]  # (tenant, queue name) -> the queue's sensitive_headers


def merged(*lists: Sequence[str]) -> tuple[str, ...]:
    """Names in order, each once (case-insensitive; the first spelling kept)."""
    seen: dict[str, str] = {}
    for names in lists:
        for name in names:
            seen.setdefault(name.lower(), name)
    return tuple(seen.values())


def sealed_request(ring: KeyRing, request: HttpRequestSpec, tenant: str, extra: Sequence[str] = ()) -> HttpRequestSpec:
    """``request`` with the queue's names added to its own and every sensitive header's value sealed."""
    names = merged(request.sensitive_headers, extra)
    headers = ring.seal_headers(request.headers, tenant, names)
    if headers == request.headers and names == request.sensitive_headers:
        return request
    return request.model_copy(update={"headers": headers, "sensitive_headers": names})


def sealed_event(ring: KeyRing, event: Envelope, extra: Sequence[str] = ()) -> Envelope:
    """A job definition's event with its request sealed; any other event as it is."""
    if not isinstance(event, JobCreated | JobPushed | JobUpdated):
        return event
    request = sealed_request(ring, event.request, event.tenant, extra)
    return event if request is event.request else event.model_copy(update={"request": request})


@dataclass
class Sealing:
    """The process's key ring and the queues' extra names (read from the read model, cached a few seconds)."""

    ring: KeyRing = field(default_factory=KeyRing)
    queue_names: QueueNames | None = None
    clock: Callable[[], float] = time.monotonic
    _cache: dict[tuple[str, str], tuple[float, tuple[str, ...]]] = field(default_factory=dict)

    def _fresh(self, key: tuple[str, str]) -> tuple[str, ...] | None:
        hit = self._cache.get(key)
        return hit[1] if hit is not None and self.clock() - hit[0] < QUEUE_NAMES_TTL_S else None

    def _load(self, keys: list[tuple[str, str]]) -> None:
        assert self.queue_names is not None
        if len(self._cache) + len(keys) > _CACHE_MAX:
            self._cache.clear()
        for tenant, queue in keys:
            self._cache[(tenant, queue)] = (self.clock(), self.queue_names(tenant, queue))

    async def seal(self, events: list[Envelope]) -> list[Envelope]:
        """``events`` with every job definition sealed. The queues' names come from the cache, read in a worker
        thread only when one is missing or stale; a large batch is sealed in a worker thread (~8 µs a value)."""
        extra: dict[tuple[str, str], tuple[str, ...]] = {}
        if self.queue_names is not None:
            queues = {(e.tenant, e.queue) for e in events if isinstance(e, JobPushed)}
            missing = [q for q in queues if self._fresh(q) is None]
            if missing:
                await asyncio.to_thread(self._load, missing)
            extra = {q: self._cache[q][1] for q in queues}

        def sealed_all() -> list[Envelope]:
            return [
                sealed_event(self.ring, e, extra.get((e.tenant, e.queue), ()) if isinstance(e, JobPushed) else ())
                for e in events
            ]

        if self.ring.seals and len(events) > _IN_LOOP_MAX:
            return await asyncio.to_thread(sealed_all)
        return sealed_all()


def stored_queue_names(engine: Engine) -> QueueNames:
    """The queues' sensitive_headers as the read model holds them (a queue never PATCHed has none)."""

    def names(tenant: str, queue: str) -> tuple[str, ...]:
        view = queue_by_name(engine, tenant, queue)
        return () if view is None else view.settings.sensitive_headers

    return names


async def no_store(response: Response) -> None:
    """A route dependency for answers that hold a secret (a signing secret, an alert destination's URL): no cache, a
    proxy's or the browser's, may keep them (decision 0044)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
