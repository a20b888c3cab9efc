"""Read-your-writes across API processes (decision 0035): the mechanisms; the FastAPI dependency is fresh_reads.py.

- A write answers ``X-Chronohook-Position``: where its events landed, one ``<log>.<partition>:<offset>`` per
  partition (``jobs.2:1043,queues.0:7``). Clients treat it as opaque and send it back on a read.
- Each write also raises its tenant's watermark in the database every API process shares (``Watermarks``), before
  the write is answered.
- A read waits, bounded, until the projector has applied the positions it carries, or, without the header, its
  tenant's watermark (``AppliedOffsets``, one poll of the projector's offsets for every waiting read of a process).
  Past the bound it answers what is there, with ``X-Chronohook-Stale: true``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chronohook.store.write_positions import Position, WriteKey

log = logging.getLogger(__name__)

POSITION_HEADER = "X-Chronohook-Position"
STALE_HEADER = "X-Chronohook-Stale"
# A position header holding more entries than this (or anything unparsable) is ignored: the read waits for its
# tenant's watermark instead, which covers every write of the tenant.
MAX_POSITIONS = 256
POLL_INTERVAL = 0.01
Applied = dict[tuple[str, int], int]  # the projector's next offset per (topic, partition)


# -- the header's text ----------------------------------------------------------------------------------------------
def format_positions(positions: Mapping[tuple[str, int], int], names: Mapping[str, str]) -> str:
    """``{(topic, partition): offset}`` as the header's text, each topic by its short name (``jobs``, ``queues``)."""
    return ",".join(f"{names[t]}.{p}:{o}" for (t, p), o in sorted(positions.items()) if t in names)


def parse_positions(values: Iterable[str], topics: Mapping[str, str]) -> list[Position] | None:
    """The positions in one or more header values (comma-separated entries; short name -> topic in ``topics``), the
    highest offset per partition; None when any entry is malformed or names no log, or there are too many."""
    wanted: dict[tuple[str, int], int] = {}
    for value in values:
        for entry in value.split(","):
            entry = entry.strip()
            if not entry:
                continue
            name, dot, rest = entry.partition(".")
            partition, colon, offset = rest.partition(":")
            if not dot or not colon or name not in topics or not partition.isdigit() or not offset.isdigit():
                return None
            if len(partition) > 6 or len(offset) > 19:
                return None
            key = (topics[name], int(partition))
            wanted[key] = max(int(offset), wanted.get(key, -1))
            if len(wanted) > MAX_POSITIONS:
                return None
    return [(t, p, o) for (t, p), o in wanted.items()] if wanted else None


# -- what one request wrote, and whether its read was behind ------------------------------------------------------
@dataclass
class RequestConsistency:
    wrote: dict[tuple[str, int], int] = field(default_factory=dict)
    stale: bool = False

    def add(self, positions: Iterable[Position]) -> None:
        for topic, partition, offset in positions:
            self.wrote[(topic, partition)] = max(offset, self.wrote.get((topic, partition), -1))


_current: ContextVar[RequestConsistency | None] = ContextVar("chronohook_request_consistency", default=None)


def record_written(positions: Iterable[Position]) -> None:
    """Note positions this request wrote (answered in its position header); outside a request, nothing."""
    state = _current.get()
    if state is not None:
        state.add(positions)


def mark_stale() -> None:
    state = _current.get()
    if state is not None:
        state.stale = True


class ConsistencyHeaders:
    """ASGI middleware: each request gets its RequestConsistency; its response carries the position header when it
    wrote, and the stale header when its read gave up waiting (also on a handler's own Response, and on errors)."""

    def __init__(self, app: ASGIApp, names: Callable[[], Mapping[str, str]]) -> None:
        self.app = app
        self.names = names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = RequestConsistency()
        token = _current.set(state)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra: list[tuple[bytes, bytes]] = []
                if state.wrote and (text := format_positions(state.wrote, self.names())):
                    extra.append((POSITION_HEADER.lower().encode(), text.encode()))
                if state.stale:
                    extra.append((STALE_HEADER.lower().encode(), b"true"))
                if extra:
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            _current.reset(token)


# -- the tenant watermark, written with group commit ----------------------------------------------------------------
class Watermarks:
    """Raises tenants' write positions in the shared database. One write in flight per process: the appends that
    arrive meanwhile go together in the next one, and each caller returns once a write holding its positions
    committed (so a write is answered only after its watermark is visible to every API process)."""

    def __init__(self, write: Callable[[dict[WriteKey, int]], None]) -> None:
        self._write = write
        self._pending: dict[WriteKey, int] = {}
        self._next: asyncio.Future[None] | None = None
        self._flusher: asyncio.Task[None] | None = None

    async def advance(self, tenant: str, positions: Iterable[Position]) -> None:
        for topic, partition, offset in positions:
            key = (tenant, topic, partition)
            self._pending[key] = max(offset, self._pending.get(key, -1))
        if not self._pending:
            return
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        done = self._next
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush())
        await asyncio.shield(done)

    async def _flush(self) -> None:
        while self._pending and self._next is not None:
            batch, self._pending = self._pending, {}
            done, self._next = self._next, None
            try:
                await asyncio.to_thread(self._write, batch)
            except Exception as exc:  # each waiter decides what its write's answer is
                done.set_exception(exc)
                done.exception()  # retrieved: no "never retrieved" warning when every waiter was cancelled
            else:
                done.set_result(None)


# -- waiting for the projector --------------------------------------------------------------------------------------
class AppliedOffsets:
    """Waits until the projector has applied given positions. A process's waiting reads share one poll of its
    offsets (every ``interval``, in a worker thread); the last snapshot answers at once whatever it already covers
    (offsets only grow)."""

    def __init__(self, read: Callable[[], Applied], interval: float = POLL_INTERVAL) -> None:
        self._read = read
        self._interval = interval
        self.snapshot: Applied = {}
        self._waiters: list[tuple[list[Position], asyncio.Future[bool]]] = []
        self._poller: asyncio.Task[None] | None = None

    def covers(self, positions: Iterable[Position]) -> bool:
        return all(offset < self.snapshot.get((topic, partition), 0) for topic, partition, offset in positions)

    async def reached(self, positions: list[Position], wait: float) -> bool:
        """True once every position is applied; False if that did not happen within ``wait`` seconds."""
        if self.covers(positions):
            return True
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        waiter = (positions, future)
        self._waiters.append(waiter)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.ensure_future(self._poll())
        try:
            return await asyncio.wait_for(asyncio.shield(future), wait)
        except TimeoutError:
            return False
        finally:
            self._waiters.remove(waiter)

    async def _poll(self) -> None:
        while self._waiters:
            try:
                self.snapshot = await asyncio.to_thread(self._read)
            except Exception:  # a database hiccup: the waits run out and the reads answer stale
                log.warning("reading the projector's offsets failed", exc_info=True)
            for positions, future in self._waiters:
                if not future.done() and self.covers(positions):
                    future.set_result(True)
            if any(not f.done() for _, f in self._waiters):
                await asyncio.sleep(self._interval)
            else:
                return
