"""The tenant delivery budget (``CHRONOHOOK_TENANT_DELIVERY_RATE``, decision 0028). Pure: state and time passed in.

A tenant's job attempts fire at most ``rate`` a second, with a burst of one second's worth. It is a token bucket
in its GCRA form (virtual scheduling): per tenant one number, the theoretical arrival time ``tat``. An attempt
wanted at ``at`` is allowed at ``max(at, tat - tolerance)``, and the budget is taken for it at once, so attempts
over budget get distinct instants one interval apart, in the order they came: each is delayed, never dropped, and
its ``JobDue`` says by how much (``planned_at``, ``delayed_by_ms``). Callbacks and alerts are not budgeted.

Several timer processes each apply their share: ``rate`` x owned partitions / partitions. The state is in RAM:
after a restart every bucket starts full; at most ``capacity`` tenants are kept, the least recently seen dropped
first (a dropped tenant's bucket is full again, which costs at most one burst).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from datetime import datetime, timedelta

from chronohook.clock import to_ms
from schemas.changelog import Entry, TimerEntry
from services.timer.queues import QueueLookup, wake_at

# Tenants whose bucket is kept.
TENANTS_KEPT = 10_000


def allowed_at(tat_ms: float | None, at_ms: int, interval_ms: float, burst: int) -> tuple[int, float]:
    """When an attempt wanted at ``at_ms`` may go, and the tenant's new ``tat``. ``tat_ms`` None: a full bucket.
    ``interval_ms``: 1000 / rate; ``burst``: attempts that may go at once from a full bucket (>= 1)."""
    tolerance = (burst - 1) * interval_ms
    tat = at_ms if tat_ms is None else max(tat_ms, at_ms)
    allowed = max(at_ms, math.ceil(tat - tolerance))
    return allowed, tat + interval_ms


def burst_of(rate: float) -> int:
    """One second's worth, at least one attempt."""
    return max(1, math.floor(rate))


def share_of(rate: float, owned: int, partitions: int) -> float:
    """This timer's part of a tenant's rate: the partitions it owns of all of them (a tenant's jobs spread over all)."""
    if rate <= 0 or owned <= 0 or partitions <= 0:
        return 0.0
    return rate * owned / partitions


class TenantBudgets:
    """Per tenant, the ``tat`` of its bucket at ``rate`` attempts a second (0: no budget); bounded, LRU."""

    def __init__(self, rate: float, capacity: int = TENANTS_KEPT) -> None:
        self.rate = rate
        self.capacity = capacity
        self._tat: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tat)

    def allow(self, tenant: str, at_ms: int) -> int:
        """When ``tenant``'s attempt wanted at ``at_ms`` may go (``at_ms`` itself when within budget); taken."""
        if self.rate <= 0:
            return at_ms
        allowed, tat = allowed_at(self._tat.get(tenant), at_ms, 1000.0 / self.rate, burst_of(self.rate))
        self._tat[tenant] = tat
        self._tat.move_to_end(tenant)
        while len(self._tat) > self.capacity:
            self._tat.popitem(last=False)
        return allowed


def budgeted(entry: Entry, now: datetime, lead: timedelta, budgets: TenantBudgets, queues: QueueLookup) -> Entry:
    """``entry`` with the tenant's budget applied to the attempt it is about to fire (due by ``now + lead``): as it
    was when within budget (or not a job's entry, or already delayed, or nothing due); else held until the instant
    the budget allows (``held_until``): ``fire`` hands it out then, saying by how much it was delayed."""
    if budgets.rate <= 0 or not isinstance(entry, TimerEntry) or entry.held_until is not None:
        return entry
    wake = wake_at(entry, queues)
    if wake is None or wake > now + lead:
        return entry
    at = max(to_ms(wake), to_ms(now))
    allowed = budgets.allow(entry.tenant, at)
    if allowed <= at:
        return entry
    return entry.model_copy(update={"held_until": wake + timedelta(milliseconds=allowed - to_ms(wake))})
