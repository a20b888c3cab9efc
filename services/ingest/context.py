"""Everything a request handler needs, built once at start and reached through ``Annotated`` dependencies."""

from __future__ import annotations

import asyncio
import logging
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
from chronohook.metrics import QueueLabels
from chronohook.readmodel.counts import pending_jobs
from chronohook.readmodel.store import PROJECTOR_CONSUMER as CONSUMER_NAME
from chronohook.readmodel.store import ReadModelStore
from chronohook.settings import Settings
from chronohook.store.tokens import tenant_for_hash
from chronohook.store.write_positions import Position, advance, applied
from schemas.events import Envelope, JobCreated, JobPushed
from services.ingest.auth import TENANT_SCOPE_KEY, TokenAuthenticator
from services.ingest.cap_tallies import TenantCaps, tenant_caps
from services.ingest.consistency import AppliedOffsets, Watermarks, record_written
from services.ingest.errors import Unavailable
from services.ingest.metrics import CreatedJobs
from services.ingest.quotas import TenantQuotas
from services.ingest.secrets import Sealing

log = logging.getLogger(__name__)
READ_YOUR_WRITES_WAIT = 3.0  # caught_up_all's (DELETE of a queue); reads wait settings.read_your_writes_wait_s


class RecentWrites:
    """Where this process last wrote each job (the caps' tallies count a change until the projector applied it)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._where: OrderedDict[str, tuple[int, int]] = OrderedDict()
        # The last offset this process wrote in each partition of the job log (see IngestContext.caught_up_all).
        self.last_in_log: dict[int, int] = {}

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
    # Where queue settings changes go (decision 0015), and that topic's name; a test's one log may take both.
    queue_log: EventLog | None = None
    queue_topic: str = ""
    # Seals sensitive request headers just before every append (decision 0044; services/ingest/secrets.py).
    sealing: Sealing = field(default_factory=Sealing)
    auth: TokenAuthenticator = field(init=False)
    quotas: TenantQuotas = field(init=False)
    caps: TenantCaps = field(init=False)  # active schedules and queues per tenant (decision 0030)
    # Read-your-writes across API processes (decision 0035, services/ingest/consistency.py).
    watermarks: Watermarks = field(init=False)
    applied: AppliedOffsets = field(init=False)
    created_jobs: CreatedJobs = field(init=False)  # the jobs-created metric (services/ingest/metrics.py)

    def __post_init__(self) -> None:
        engine = self.engine
        self.auth = TokenAuthenticator(lambda token_hash: tenant_for_hash(engine, token_hash))
        self.quotas = TenantQuotas(
            rate=self.settings.tenant_create_rate,
            burst=self.settings.tenant_create_burst,
            max_pending=self.settings.tenant_max_pending,
            count_pending=lambda tenant, exact_from: pending_jobs(engine, tenant, exact_from),
        )
        self.caps = tenant_caps(self.settings, engine, lambda: self.store.offsets(CONSUMER_NAME))
        self.watermarks = Watermarks(lambda positions: advance(engine, positions))
        self.applied = AppliedOffsets(lambda: applied(engine, CONSUMER_NAME))
        self.created_jobs = CreatedJobs(QueueLabels.from_settings(self.settings))

    @property
    def position_topics(self) -> dict[str, str]:
        """The position header's short names for the logs ingest writes (the inverse of ``position_names``)."""
        return {name: topic for topic, name in self.position_names.items()}

    @property
    def position_names(self) -> dict[str, str]:
        names = {self.queue_topic: "queues"} if self.queue_topic else {}
        return names | {self.topic: "jobs"}  # a test's one log takes both: "jobs"

    async def wrote(self, tenant: str, positions: list[Position]) -> None:
        """Note a write's positions: answered in the request's position header, and raised in the tenant's watermark
        before the write is answered. The write is in the log already: a watermark that cannot be written is logged,
        and the write still answered (a read without the header may then miss it; one with the header does not)."""
        record_written(positions)
        try:
            await self.watermarks.advance(tenant, positions)
        except Exception:
            log.warning("raising %s's write watermark failed", tenant, exc_info=True)

    async def publish(self, events: list[Envelope], atomically: bool = False) -> None:
        """Append and wait for the broker's acknowledgement; nothing is accepted otherwise.

        ``atomically``: as one transaction, so a failure part-way leaves none of the events visible (batches).
        Every new job passes here, so this is where the tenant's creation limits are applied (TooManyRequests).
        """
        from chronohook.errors import PublishFailed

        new_jobs: dict[str, int] = {}
        for event in events:
            if isinstance(event, JobCreated | JobPushed):
                new_jobs[event.tenant] = new_jobs.get(event.tenant, 0) + 1
        for tenant, count in new_jobs.items():
            await self.quotas.admit(tenant, count)
        events = await self.sealing.seal(events)
        try:
            positions = await (self.log.append_atomically(events) if atomically else self.log.append(events))
        except PublishFailed as exc:
            raise Unavailable(f"The job log did not acknowledge the write, nothing was accepted: {exc}") from exc
        self.created_jobs.count(events)
        last = self.recent.last_in_log
        for event, (partition, offset) in zip(events, positions, strict=True):
            self.recent.wrote(event.job_id, partition, offset)
            last[partition] = max(offset, last.get(partition, -1))
        by_tenant: dict[str, list[Position]] = {}
        for event, (partition, offset) in zip(events, positions, strict=True):
            by_tenant.setdefault(event.tenant, []).append((self.topic, partition, offset))
        for tenant, written in by_tenant.items():
            await self.wrote(tenant, written)

    async def caught_up_all(self) -> bool:
        """Wait (bounded) until the projector applied every job-log write this process made; False if it did not
        within the wait. A read that must not miss this process's own writes of any job (the jobs a queue holds,
        before it is deleted) asks this."""
        wanted = dict(self.recent.last_in_log)
        deadline = time.monotonic() + READ_YOUR_WRITES_WAIT
        while True:
            applied = await asyncio.to_thread(self.store.offsets, CONSUMER_NAME)
            if all(applied.get((self.topic, p), 0) > offset for p, offset in wanted.items()):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)


async def get_context(request: Request) -> IngestContext:
    # async on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop per request.
    ctx = request.app.state.ctx
    assert isinstance(ctx, IngestContext)
    return ctx


Ctx = Annotated[IngestContext, Depends(get_context)]
_bearer = HTTPBearer(auto_error=False, description="Bearer token from `chronohook tokens create`.")


async def get_tenant(
    request: Request, ctx: Ctx, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    """The tenant the Authenticate middleware found from the headers, before the body was read.

    _credentials only documents the scheme in OpenAPI. Without the middleware (an app composed otherwise) the token
    is checked here, so a route is never open.
    """
    tenant = request.scope.get(TENANT_SCOPE_KEY)
    if isinstance(tenant, str):
        return tenant
    header = request.headers.get("authorization")
    return await ctx.auth.tenant(None if header is None else header.encode("latin-1"))


Tenant = Annotated[str, Depends(get_tenant)]
