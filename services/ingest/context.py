"""Everything a request handler needs, built once at start and reached through ``Annotated`` dependencies."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from chronohook.clock import Clock
from chronohook.ids import SnowflakeIds
from chronohook.kafka.log import EventLog
from chronohook.readmodel.store import PROJECTOR_CONSUMER as CONSUMER_NAME
from chronohook.readmodel.store import ReadModelStore
from chronohook.settings import Settings
from chronohook.store.tokens import tenant_for_token
from schemas.events import Envelope
from services.ingest.errors import Unauthorized, Unavailable

TOKEN_CACHE_SECONDS = 30.0
TOKEN_CACHE_MAX = 10_000
READ_YOUR_WRITES_WAIT = 3.0


class RecentWrites:
    """Where this process last wrote each job, so a read right after a write waits for the projector."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._where: OrderedDict[str, tuple[int, int]] = OrderedDict()

    def wrote(self, job_id: str, partition: int, offset: int) -> None:
        self._where[job_id] = (partition, offset)
        self._where.move_to_end(job_id)
        while len(self._where) > self._capacity:
            self._where.popitem(last=False)

    def position(self, job_id: str) -> tuple[int, int] | None:
        return self._where.get(job_id)


@dataclass
class IngestContext:
    settings: Settings
    clock: Clock
    log: EventLog
    engine: Engine
    store: ReadModelStore
    ids: SnowflakeIds
    topic: str
    recent: RecentWrites = field(default_factory=RecentWrites)
    _tokens: dict[str, tuple[str | None, float]] = field(default_factory=dict)

    async def publish(self, events: list[Envelope], atomically: bool = False) -> None:
        """Append and wait for the broker's acknowledgement; nothing is accepted otherwise.

        ``atomically``: as one transaction, so a failure part-way leaves none of the events visible (batches).
        """
        from chronohook.errors import PublishFailed

        try:
            positions = await (self.log.append_atomically(events) if atomically else self.log.append(events))
        except PublishFailed as exc:
            raise Unavailable(f"The job log did not acknowledge the write, nothing was accepted: {exc}") from exc
        for event, (partition, offset) in zip(events, positions, strict=True):
            self.recent.wrote(event.job_id, partition, offset)

    async def caught_up(self, job_id: str) -> None:
        """Wait (bounded) until the projector applied this process's last write of ``job_id``."""
        where = self.recent.position(job_id)
        if where is None:
            return
        partition, offset = where
        deadline = time.monotonic() + READ_YOUR_WRITES_WAIT
        while time.monotonic() < deadline:
            applied = await asyncio.to_thread(self.store.offsets, CONSUMER_NAME)
            if applied.get((self.topic, partition), 0) > offset:
                return
            await asyncio.sleep(0.01)

    async def tenant_for(self, token: str) -> str | None:
        cached = self._tokens.get(token)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        tenant = await asyncio.to_thread(tenant_for_token, self.engine, token)
        if len(self._tokens) >= TOKEN_CACHE_MAX:
            # Wrong tokens are cached too (a flood of them must not reach the database each time), so bound it.
            self._tokens.clear()
        self._tokens[token] = (tenant, now + TOKEN_CACHE_SECONDS)
        return tenant


async def get_context(request: Request) -> IngestContext:
    # async on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop per request.
    ctx = request.app.state.ctx
    assert isinstance(ctx, IngestContext)
    return ctx


Ctx = Annotated[IngestContext, Depends(get_context)]
_bearer = HTTPBearer(auto_error=False, description="Bearer token from `chronohook tokens create`.")


async def authenticate(ctx: IngestContext, authorization: str | None) -> str:
    """The tenant an ``Authorization: Bearer <token>`` header acts for; Unauthorized otherwise."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Missing authorization token")
    tenant = await ctx.tenant_for(token)
    if tenant is None:
        raise Unauthorized("Invalid authorization token")
    return tenant


async def get_tenant(
    request: Request, ctx: Ctx, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    # _credentials only documents the scheme in OpenAPI; the header itself is read by authenticate().
    return await authenticate(ctx, request.headers.get("authorization"))


Tenant = Annotated[str, Depends(get_tenant)]
