"""Per-tenant admission for creates: a token-bucket rate limit and a cap on pending jobs.

Both are checked where every new job passes, ``IngestContext.publish`` (POST /jobs, /api/jobs, /api/jobs/batch,
/api/crons), so a batch counts each of its jobs. The rate is kept per ingest process: with N processes a tenant may
create up to N times the rate. The pending count comes from the read model (shared), so the cap is global but
approximate: a count is reused for ``COUNT_TTL`` seconds (longer when counting was slow: ``COUNT_COST_SHARE``) and
lags the projector; this process adds what it accepted since.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import LRUCache, TLRUCache

from services.ingest.errors import TooManyRequests, Unavailable

log = logging.getLogger(__name__)
# One line per refusal (decision 0043), with its reason.
refusals = logging.getLogger("chronohook.refusals")

COUNT_TTL = 1.0
# A count is reused for at least 10 times as long as it took, so counting costs at most ~10% of one thread per tenant
# (SQLite, 200,000 rows of one tenant: 63 ms for the index-only count, 665 ms when finished jobs must be told apart).
COUNT_COST_SHARE = 0.1
TENANTS = 100_000
# When the pending cap refuses, the count is the projector's and frees up as jobs finish: ask again a little later.
PENDING_RETRY_AFTER = 5

PendingCount = Callable[[str, int], int]
"""(tenant, exact_from) -> the tenant's pending jobs (see chronohook.readmodel.counts.pending_jobs); blocking."""


@dataclass
class TokenBucket:
    """``rate`` tokens a second up to ``burst``. A take larger than the burst waits for a full bucket and leaves a debt,
    so the long-run rate holds whatever the batch size."""

    rate: float
    burst: int
    tokens: float
    stamp: float

    def take(self, n: int, now: float) -> float:
        """Take ``n`` tokens: 0.0 if granted, else the seconds until they would be (nothing is taken then)."""
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        need = min(n, self.burst)
        if self.tokens >= need:
            self.tokens -= n
            return 0.0
        return (need - self.tokens) / self.rate


@dataclass
class _Pending:
    counted: int
    reuse_for: float
    accepted_since: int = 0


class TenantQuotas:
    def __init__(
        self,
        rate: float,
        burst: int,
        max_pending: int,
        count_pending: PendingCount,
        timer: Callable[[], float] = time.monotonic,
        count_ttl: float = COUNT_TTL,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_pending = max_pending
        self._count_pending = count_pending
        self._timer = timer
        # A bucket forgotten by the LRU comes back full; only a tenant idle among 100,000 busier ones gains by that.
        self._buckets: LRUCache[str, TokenBucket] = LRUCache(TENANTS)
        self._count_ttl = count_ttl
        self._pending: TLRUCache[str, _Pending] = TLRUCache(TENANTS, lambda _, p, now: now + p.reuse_for, timer)
        self._counting: dict[str, asyncio.Future[tuple[int, float]]] = {}

    async def admit(self, tenant: str, jobs: int) -> None:
        """Admit ``jobs`` new jobs of ``tenant``, or raise TooManyRequests (and count nothing)."""
        pending = await self._pending_of(tenant) if self.max_pending else None
        if pending is not None and pending.counted + pending.accepted_since + jobs > self.max_pending:
            refusals.info("refused %s: pending cap %d", tenant, self.max_pending, extra=_refusal(tenant, "pending"))
            raise TooManyRequests(
                f"Too many pending jobs: this tenant may have {self.max_pending} jobs waiting to run.",
                PENDING_RETRY_AFTER,
            )
        if self.rate:
            now = self._timer()
            bucket = self._buckets.get(tenant)
            if bucket is None:
                bucket = self._buckets[tenant] = TokenBucket(self.rate, self.burst, float(self.burst), now)
            wait = bucket.take(jobs, now)
            if wait > 0:
                refusals.info("refused %s: create rate %g/s", tenant, self.rate, extra=_refusal(tenant, "rate"))
                raise TooManyRequests(
                    f"Too many jobs created: this tenant may create {self.rate:g} a second (bursts of {self.burst}).",
                    math.ceil(wait),
                )
        if pending is not None:
            pending.accepted_since += jobs

    async def _pending_of(self, tenant: str) -> _Pending:
        cached = self._pending.get(tenant)
        if cached is not None:
            return cached
        # One count per tenant at a time: the requests that arrive meanwhile wait for the same answer.
        task = self._counting.get(tenant)
        if task is None:
            task = asyncio.ensure_future(self._count(tenant))
            self._counting[tenant] = task
            task.add_done_callback(lambda _: self._counting.pop(tenant, None))
        try:
            counted, took = await asyncio.shield(task)
        except Exception as exc:  # the database: a 503 to the caller (nothing accepted), the detail in the log
            log.exception("counting %s's pending jobs failed", tenant)
            raise Unavailable("The read model did not answer; nothing was accepted.") from exc
        cached = self._pending.get(tenant)
        if cached is None:
            cached = self._pending[tenant] = _Pending(counted, max(self._count_ttl, took / COUNT_COST_SHARE))
        return cached

    async def _count(self, tenant: str) -> tuple[int, float]:
        started = self._timer()
        counted = await asyncio.to_thread(self._count_pending, tenant, self.max_pending // 2)
        return counted, self._timer() - started


def _refusal(tenant: str, reason: str) -> dict[str, str]:
    return {"refusal": "quota", "reason": reason, "tenant": tenant}
