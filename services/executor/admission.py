"""Admission: which parked attempt starts next. Pure: no I/O, no clock, no asyncio; the shell (fairness.py) asks.

An attempt (a job's, a callback's, an alert's) is *parked* here, under its tenant and its host, until this policy
*admits* it; only then does it start, holding one slot until the shell calls ``finish``. So an attempt that waits,
for its host or its tenant's share, holds nothing anyone else needs (docs/decisions/0029-*.md). The rule:

1. **Capacity.** At most ``total`` attempts run, shared by every tenant; beyond it, ``reserve`` more only for a
   *light* tenant, one running fewer than ``light``: a tenant arriving while others hold everything (a host that
   never answers holds its slots until the request's timeout; nothing is preempted) starts at once.
2. **Host cap.** At most ``per_host`` of one tenant's attempts running to one host, and at most
   ``per_host * HOST_TENANTS`` of all tenants' (politeness to a machine many tenants target): an attempt whose host
   is at a cap is never admitted, and never blocks one behind it whose host is not (no head-of-line blocking). So a
   tenant whose host never answers holds its own ``per_host`` slots of that host, and another tenant sending to the
   same host still has the rest.
3. **Fair share, work-conserving.** A tenant's share is ``total // (tenants with parked attempts)``. A first pass
   admits only tenants under their share; when it admits nothing and capacity is left, a second pass admits anyone
   runnable. So a tenant alone may use all of ``total``, and when others wait, what frees goes first to those under
   their share: a tenant's hung host costs its own share and that host's slots, and nothing else.
4. **Order.** Tenants in a round-robin ring (deficit round robin with every attempt costing one: a tenant admitted
   goes to the back); within a tenant its hosts in a ring too, and each host's attempts first in, first out.
5. **Urgent first.** Callbacks and alerts are parked as *urgent*: a ring of their own, asked before the attempts'
   ring in each pass, under the same host cap and shares. They never wait behind another tenant's attempts.

Cost per admission: O(1) for a tenant's ring position and a host under its cap; hosts at their cap are skipped, at
most ``(total + reserve) / per_host`` of them (9 at the defaults); tenants over their share are skipped, so a call
that admits nothing walks the rings once: O(tenants with parked attempts). Memory: one entry per parked attempt
plus one per tenant and host with something parked or running; nothing is left behind for an idle tenant or host.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K")
# A host takes at most this many tenants' full per-tenant caps at once (politeness to one machine).
HOST_TENANTS = 4
# One tenant's parked items by host, hosts in round-robin order; tenants in round-robin order.
_Hosts = OrderedDict[str, deque[T]]
_Ring = OrderedDict[str, _Hosts[T]]


def default_reserve(total: int) -> int:
    """An eighth of the capacity (32 for 256), at least one."""
    return max(1, total // 8)


@dataclass(frozen=True)
class Limits:
    total: int
    per_host: int
    reserve: int
    light: int

    @classmethod
    def of(cls, total: int, per_host: int, reserve: int | None = None, light: int | None = None) -> Limits:
        reserve = default_reserve(total) if reserve is None else reserve
        # A quarter of the reserve each: at least four light tenants at once are served from it.
        light = max(1, reserve // 4) if light is None else light
        if total < 1 or per_host < 1 or reserve < 0 or light < 1:
            raise ValueError("total, per_host and light must be at least 1, reserve at least 0")
        return cls(total, per_host, reserve, light)


@dataclass(frozen=True, slots=True)
class Admitted(Generic[T]):
    item: T
    tenant: str
    host: str


class Admission(Generic[T]):
    """Per-tenant, per-host queues of parked items and the counts of what runs; ``admit`` applies the rule."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        # tenant -> host -> parked items, oldest first; tenants (and each tenant's hosts) in round-robin order.
        self._urgent: _Ring[T] = OrderedDict()
        self._normal: _Ring[T] = OrderedDict()
        self._parked_by: dict[str, int] = {}
        self._held: dict[str, int] = {}
        self._on_host: dict[str, int] = {}
        self._on_tenant_host: dict[tuple[str, str], int] = {}
        self.parked = 0
        self.running = 0

    def park(self, item: T, tenant: str, host: str, urgent: bool = False) -> None:
        ring = self._urgent if urgent else self._normal
        hosts = ring.get(tenant)
        if hosts is None:
            hosts = ring[tenant] = OrderedDict()  # a newcomer joins the ring at its back
        queue = hosts.get(host)
        if queue is None:
            queue = hosts[host] = deque()
        queue.append(item)
        self._parked_by[tenant] = self._parked_by.get(tenant, 0) + 1
        self.parked += 1

    def start_now(self, tenant: str, host: str) -> bool:
        """Count an attempt as running at once, without parking it. Only when nothing is parked (else False: park
        it), and then exactly when parking it and calling ``admit`` would admit it (a lone share is everything)."""
        if self.parked:
            return False
        limits, running = self.limits, self.running
        if not self._host_open(tenant, host):
            return False
        if running >= limits.total:
            held = self._held.get(tenant, 0)
            if running >= limits.total + limits.reserve or held >= limits.light or held >= limits.total:
                return False
        self.running = running + 1
        self._held[tenant] = self._held.get(tenant, 0) + 1
        self._on_host[host] = self._on_host.get(host, 0) + 1
        self._on_tenant_host[(tenant, host)] = self._on_tenant_host.get((tenant, host), 0) + 1
        return True

    def withdraw(self, item: T, tenant: str, host: str, urgent: bool = False) -> bool:
        """Take a parked item back (its waiter gave up); O(items parked for that tenant and host). False: not here."""
        ring = self._urgent if urgent else self._normal
        hosts = ring.get(tenant)
        queue = hosts.get(host) if hosts is not None else None
        if hosts is None or queue is None:
            return False
        try:
            queue.remove(item)
        except ValueError:
            return False
        if not queue:
            del hosts[host]
            if not hosts:
                del ring[tenant]
        _decrement(self._parked_by, tenant)
        self.parked -= 1
        return True

    def admit(self) -> Admitted[T] | None:
        """The next item to start (counted as running from now on), or None while nothing parked may start."""
        limits = self.limits
        if not self.parked or self.running >= limits.total + limits.reserve:
            return None
        full = self.running >= limits.total
        share = max(1, limits.total // len(self._parked_by))
        # Both passes in one walk per ring: a tenant under its share is admitted at once; the first runnable one
        # over it is remembered, and admitted only when nobody under their share could start (work conservation).
        spare: tuple[_Ring[T], str, str] | None = None
        for ring in (self._urgent, self._normal):
            if ring:
                got, over = self._walk(ring, share, full, spare is None)
                if got is not None:
                    return got
                if spare is None and over is not None:
                    spare = (ring, *over)
        if spare is None:
            return None
        ring, tenant, host = spare
        return self._start(ring, tenant, ring[tenant], host)

    def finish(self, tenant: str, host: str) -> None:
        """An admitted item ended: its slot, its tenant's and its host's counts come back."""
        self.running -= 1
        _decrement(self._held, tenant)
        _decrement(self._on_host, host)
        _decrement(self._on_tenant_host, (tenant, host))

    def held(self, tenant: str) -> int:
        return self._held.get(tenant, 0)

    def on_host(self, host: str) -> int:
        return self._on_host.get(host, 0)

    def parked_for(self, tenant: str) -> int:
        return self._parked_by.get(tenant, 0)

    def idle(self) -> bool:
        """Nothing parked, nothing running, and no bookkeeping left behind."""
        return not (
            self.parked or self.running or self._held or self._on_host or self._on_tenant_host or self._parked_by
        )

    def _host_open(self, tenant: str, host: str) -> bool:
        per_host = self.limits.per_host
        return (
            self._on_tenant_host.get((tenant, host), 0) < per_host
            and self._on_host.get(host, 0) < per_host * HOST_TENANTS
        )

    def _walk(
        self, ring: _Ring[T], share: int, full: bool, want_spare: bool
    ) -> tuple[Admitted[T] | None, tuple[str, str] | None]:
        """One turn of the ring: the first tenant under its share with a runnable host, admitted; else None and the
        first runnable tenant over its share (never while the capacity is full: the reserve is for light tenants)."""
        held_of, host_open = self._held, self._host_open
        light = self.limits.light
        over: tuple[str, str] | None = None
        for _ in range(len(ring)):
            tenant = next(iter(ring))
            held = held_of.get(tenant, 0)
            if not full or held < light:
                under = held < share
                if under or (want_spare and over is None and not full):
                    hosts = ring[tenant]
                    for host in hosts:  # hosts at their cap are skipped: at most (total + reserve) / per_host
                        if host_open(tenant, host):
                            if under:
                                return self._start(ring, tenant, hosts, host), None
                            over = (tenant, host)
                            break
            ring.move_to_end(tenant)
        return None, over

    def _start(self, ring: _Ring[T], tenant: str, hosts: _Hosts[T], host: str) -> Admitted[T]:
        queue = hosts[host]
        item = queue.popleft()
        if queue:
            hosts.move_to_end(host)
        else:
            del hosts[host]
        if hosts:
            ring.move_to_end(tenant)
        else:
            del ring[tenant]
        _decrement(self._parked_by, tenant)
        self.parked -= 1
        self.running += 1
        self._held[tenant] = self._held.get(tenant, 0) + 1
        self._on_host[host] = self._on_host.get(host, 0) + 1
        self._on_tenant_host[(tenant, host)] = self._on_tenant_host.get((tenant, host), 0) + 1
        return Admitted(item, tenant, host)


def _decrement(counts: dict[K, int], key: K) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]


class Backlog:
    """Due records the executor took from the log and has not finished (waiting for their instant, for admission,
    or running), in count and in bytes of their values; ``full`` past either bound."""

    __slots__ = ("bytes", "max_bytes", "max_records", "records")

    def __init__(self, max_records: int, max_bytes: int) -> None:
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.records = 0
        self.bytes = 0

    def add(self, size: int) -> None:
        self.records += 1
        self.bytes += size

    def remove(self, size: int) -> None:
        self.records -= 1
        self.bytes -= size

    def full(self) -> bool:
        return self.records >= self.max_records or self.bytes >= self.max_bytes
