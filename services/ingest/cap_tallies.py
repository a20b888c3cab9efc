"""Counting a tenant's schedules and queues for its caps (decision 0030); the decisions are ``caps.py``'s.

A tenant's usage is the read model's count (shared by every ingest process, so the caps are global) plus what this
process accepted that the projector had not applied when it counted. Each accepted change is kept with the position
its event was written at; a recount reads the projector's offsets first, then counts, and drops the changes below
those offsets (the count holds them). A change is reserved before it is published (a burst of concurrent creates
each sees the ones before it) and forgotten if the write fails. A count is reused like the pending count
(``quotas.py``): for ``COUNT_TTL``, or 10 times as long as it took. Another process's writes the projector has not
applied yet are not seen: with N ingest processes a flood may pass a cap by what the others accepted within the
projector's lag.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from cachetools import LRUCache, TLRUCache, TTLCache
from sqlalchemy import Engine

from chronohook.readmodel.counts import active_schedules, existing_queues, queue_count
from chronohook.readmodel.views import JobView
from chronohook.schedule_rate import schedule_rate
from chronohook.settings import Settings
from services.ingest.caps import (
    Refusal,
    ScheduleLimits,
    Usage,
    decide_queues,
    decide_schedule,
    schedule_change,
)
from services.ingest.errors import InvalidInput, Unavailable
from services.ingest.quotas import COUNT_COST_SHARE, COUNT_TTL, TENANTS

log = logging.getLogger(__name__)

Position = tuple[str, int, int]  # (topic, partition, offset)
Applied = dict[tuple[str, int], int]  # the projector's next offset per (topic, partition)
CountUsage = Callable[[str], Usage]
"""tenant -> its usage as the read model has it; blocking."""
# A queue known to exist is not looked up again for this long (another process may delete it meanwhile: a push to
# it then recreates it uncounted, until this runs out).
KNOWN_QUEUE_TTL = 60.0
KNOWN_QUEUES = 100_000


@dataclass
class _Change:
    usage: Usage
    at: tuple[Position, ...] | None = None  # where its events were written, once they were

    def applied(self, applied: Applied) -> bool:
        return self.at is not None and all(offset < applied.get((t, p), 0) for t, p, offset in self.at)


@dataclass
class _Count:
    usage: Usage
    reuse_for: float


@dataclass
class Tally:
    """One kind of usage (schedules, or queues) of every tenant, as above."""

    count: CountUsage
    applied: Callable[[], Applied]
    timer: Callable[[], float] = time.monotonic
    count_ttl: float = COUNT_TTL
    _counts: TLRUCache[str, _Count] = field(init=False)
    _changes: LRUCache[str, list[_Change]] = field(init=False)
    _counting: dict[str, asyncio.Future[tuple[Usage, Applied, float]]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._counts = TLRUCache(TENANTS, lambda _, c, now: now + c.reuse_for, self.timer)
        self._changes = LRUCache(TENANTS)

    async def usage(self, tenant: str) -> Usage:
        counted = await self._counted(tenant)
        changes = self._changes.get(tenant, [])
        return Usage(
            counted.count + sum(c.usage.count for c in changes), counted.rate + sum(c.usage.rate for c in changes)
        )

    def reserve(self, tenant: str, usage: Usage) -> _Change:
        """Count ``usage`` from now on (its write's position to be set on the answer once written)."""
        change = _Change(usage)
        changes = self._changes.get(tenant)
        if changes is None:
            changes = self._changes[tenant] = []
        changes.append(change)
        return change

    def release(self, tenant: str, change: _Change) -> None:
        """Forget a reserved change whose write failed: nothing was accepted."""
        changes = self._changes.get(tenant)
        if changes is not None and change in changes:
            changes.remove(change)

    async def _counted(self, tenant: str) -> Usage:
        cached = self._counts.get(tenant)
        if cached is not None:
            return cached.usage
        task = self._counting.get(tenant)
        if task is None:  # one count per tenant at a time: requests meanwhile wait for the same answer
            task = asyncio.ensure_future(asyncio.to_thread(self._count, tenant))
            self._counting[tenant] = task
            task.add_done_callback(lambda _: self._counting.pop(tenant, None))
        try:
            usage, applied, took = await asyncio.shield(task)
        except Exception as exc:
            log.exception("counting %s's schedules or queues failed", tenant)
            raise Unavailable("The read model did not answer; nothing was accepted.") from exc
        if self._counts.get(tenant) is None:  # the first waiter back (on the event loop, as every reserve is)
            self._counts[tenant] = _Count(usage, max(self.count_ttl, took / COUNT_COST_SHARE))
            if (changes := self._changes.get(tenant)) is not None:
                self._changes[tenant] = [c for c in changes if not c.applied(applied)]  # the count holds these
        return usage

    def _count(self, tenant: str) -> tuple[Usage, Applied, float]:
        started = self.timer()
        applied = self.applied()  # first: whatever the count sees includes at least these
        usage = self.count(tenant)
        return usage, applied, self.timer() - started


refusals = logging.getLogger("chronohook.refusals")


def refused(refusal: Refusal, field_name: str, tenant: str) -> InvalidInput:
    """The 422 for a cap reached, and its refusal line (decision 0043: one INFO line per refusal)."""
    refusals.info(
        "refused %s: %s %g", tenant, refusal.setting, refusal.limit,
        extra={"refusal": "cap", "reason": refusal.setting, "tenant": tenant},
    )  # fmt: skip
    return InvalidInput(refusal.message, {field_name: [refusal.message]})


class ScheduleCaps:
    """Admits a write that changes a job's schedule or its pause (create, PATCH, PUT, resume), or raises the 422."""

    def __init__(self, limits: ScheduleLimits, tally: Tally) -> None:
        self.limits = limits
        self.tally = tally

    async def admit(self, tenant: str, before: JobView | None, after: JobView | None, field_name: str) -> _Admitted:
        """Check the write that takes a job from ``before`` to ``after``; the caller publishes inside the answer:
        ``with await caps.admit(...) as admitted: ...publish...; admitted.wrote(position)``."""
        change = schedule_change(before, after)
        if not self.limits.on or change.after is None:
            return _Admitted(None, tenant, change.delta)
        usage = await self.tally.usage(tenant)
        if (refusal := decide_schedule(usage, change, self.limits)) is not None:
            raise refused(refusal, field_name, tenant)
        return _Admitted(self.tally, tenant, change.delta)


class QueueCaps:
    """Admits writes that may create queues (a PATCH of new settings, pushes), or raises the 422."""

    def __init__(self, max_queues: int, tally: Tally, existing: Callable[[str, Collection[str]], set[str]]) -> None:
        self.max_queues = max_queues
        self.tally = tally
        self._existing = existing
        self._known: TTLCache[tuple[str, str], bool] = TTLCache(KNOWN_QUEUES, KNOWN_QUEUE_TTL, timer=tally.timer)

    async def admit(self, tenant: str, names: Collection[str], field_name: str) -> _Admitted:
        if not self.max_queues:
            return _Admitted(None, tenant, Usage())
        unknown = {n for n in names if (tenant, n) not in self._known}
        if unknown:
            found = await asyncio.to_thread(self._existing, tenant, unknown)
            for name in found:
                self._known[(tenant, name)] = True
            unknown -= found
        if not unknown:
            return _Admitted(None, tenant, Usage())
        usage = await self.tally.usage(tenant)
        unknown = {n for n in unknown if (tenant, n) not in self._known}  # a concurrent push may have made it meanwhile
        if not unknown:
            return _Admitted(None, tenant, Usage())
        if (refusal := decide_queues(usage.count, len(unknown), self.max_queues)) is not None:
            raise refused(refusal, field_name, tenant)
        for name in unknown:
            self._known[(tenant, name)] = True  # a second push to it before it is projected is no new queue
        return _Admitted(self.tally, tenant, Usage(len(unknown)), on_fail=lambda: self._forget(tenant, unknown))

    def deleted(self, tenant: str, name: str, at: Position) -> None:
        """``name`` was deleted by this process (its tombstone written at ``at``): it counts no more."""
        self._known.pop((tenant, name), None)
        if self.max_queues:
            self.tally.reserve(tenant, Usage(-1)).at = (at,)

    def _forget(self, tenant: str, names: Collection[str]) -> None:
        for name in names:
            self._known.pop((tenant, name), None)


class _Admitted:
    """An admitted write: a context manager around its publication (counted from entry, forgotten if it raises)."""

    def __init__(
        self, tally: Tally | None, tenant: str, usage: Usage, on_fail: Callable[[], None] | None = None
    ) -> None:
        self._tally = tally
        self._tenant = tenant
        self._usage = usage
        self._on_fail = on_fail
        self._change: _Change | None = None

    def __enter__(self) -> _Admitted:
        if self._tally is not None:
            self._change = self._tally.reserve(self._tenant, self._usage)
        return self

    def wrote(self, at: Collection[Position]) -> None:
        """Where the write's events landed (the projector's progress past them ends this process's counting)."""
        if self._change is not None:
            self._change.at = tuple(at)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if kind is None:
            return
        if self._on_fail is not None:
            self._on_fail()
        if self._tally is not None and self._change is not None:
            self._tally.release(self._tenant, self._change)


@dataclass(frozen=True)
class TenantCaps:
    schedules: ScheduleCaps
    queues: QueueCaps


def tenant_caps(
    settings: Settings, engine: Engine, applied: Callable[[], Applied], timer: Callable[[], float] = time.monotonic
) -> TenantCaps:
    """The caps of ``settings``, counted in the read model behind ``engine``; ``applied``: the projector's offsets."""

    def schedules(tenant: str) -> Usage:
        found = active_schedules(engine, tenant)
        return Usage(sum(n for _, n in found), sum(n * schedule_rate(e) for e, n in found))

    return TenantCaps(
        ScheduleCaps(ScheduleLimits.from_settings(settings), Tally(schedules, applied, timer)),
        QueueCaps(
            settings.tenant_max_queues,
            Tally(lambda tenant: Usage(queue_count(engine, tenant)), applied, timer),
            lambda tenant, names: existing_queues(engine, tenant, names),
        ),
    )
