"""Fair delivery slots: who may send next when requests in flight are scarce.

The rule (docs/decisions/0011-fair-delivery.md):

1. At most ``total`` requests in flight, and at most ``per_host`` to one host (the URL's hostname, lowercased,
   without a trailing dot; the port does not count, so ports cannot multiply the cap on one machine).
2. The last ``reserve`` free slots go only to a *light* tenant, one holding fewer than ``light`` slots: a tenant
   with a backlog of slow requests therefore never holds more than ``total - reserve``, and a tenant that arrives
   with a few due jobs gets its slots at once instead of waiting out another tenant's slow targets.
3. Waiters queue per tenant; a freed slot goes round-robin to the next tenant with a *runnable* waiter (one whose
   host is under its cap and whom rule 2 admits). A waiter that is not runnable never blocks one that is, of its
   own tenant or another: no head-of-line blocking. Within a tenant, the oldest runnable waiter goes first.

Memory is proportional to the requests in flight plus the waiters (the executor bounds both); a tenant or host
with nothing in flight and nothing waiting leaves no entry behind. Cancellation-safe: a waiter cancelled while
queued leaves the queue, and one cancelled after it was granted a slot gives the slot back.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from types import TracebackType
from urllib.parse import urlsplit

_Waiter = tuple[int, "asyncio.Future[None]"]


def host_key(url: str) -> str:
    """The host a URL's request counts against: its hostname, lowercased, without a trailing dot."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    return (host or "").rstrip(".")


def default_reserve(total: int) -> int:
    """An eighth of the slots (32 of 256), at least one when there are two or more."""
    return 0 if total < 2 else max(1, total // 8)


class FairSlots:
    """Slots for requests in flight, shared fairly across tenants and capped per host. One event loop only."""

    def __init__(self, total: int, per_host: int, reserve: int | None = None, light: int | None = None) -> None:
        if total < 1 or per_host < 1:
            raise ValueError("total and per_host must be at least 1")
        self.total = total
        self.per_host = per_host
        self.reserve = default_reserve(total) if reserve is None else reserve
        if not 0 <= self.reserve < total:
            raise ValueError("reserve must be at least 0 and below total")
        # A quarter of the reserve each: at least four light tenants at once are served from it without waiting.
        self.light = max(1, self.reserve // 4) if light is None else light
        if self.light < 1:
            raise ValueError("light must be at least 1")
        self.free = total
        self._held: dict[str, int] = {}
        self._on_host: dict[str, int] = {}
        # tenant -> host -> waiters (sequence, future), oldest first; tenants in round-robin order.
        self._waiting: OrderedDict[str, dict[str, deque[_Waiter]]] = OrderedDict()
        self._seq = 0

    def acquire(self, tenant: str, host: str) -> _Lease:
        """``async with slots.acquire(tenant, host):`` holds one slot for the block."""
        return _Lease(self, tenant, host)

    def held(self, tenant: str) -> int:
        return self._held.get(tenant, 0)

    def on_host(self, host: str) -> int:
        return self._on_host.get(host, 0)

    def waiting(self) -> int:
        return sum(len(q) for hosts in self._waiting.values() for q in hosts.values())

    def idle(self) -> bool:
        """Nothing in flight, nothing waiting, and no bookkeeping left behind."""
        return self.free == self.total and not self._held and not self._on_host and not self._waiting

    async def take(self, tenant: str, host: str) -> None:
        """Wait for a slot. Pair every successful ``take`` with one ``give``."""
        if self._runnable(tenant, host):
            # Every runnable waiter was granted when the state last changed, so taking now jumps no one.
            self._grant(tenant, host)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        hosts = self._waiting.setdefault(tenant, {})
        hosts.setdefault(host, deque()).append((self._seq, future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.give(tenant, host)  # granted, then cancelled before it could run: hand the slot on
            else:
                self._forget(tenant, host, future)
            raise

    def give(self, tenant: str, host: str) -> None:
        """Return a slot taken for ``tenant`` and ``host``, and hand freed capacity to whoever may run next."""
        self.free += 1
        self._decrement(self._held, tenant)
        self._decrement(self._on_host, host)
        self._dispatch()

    def _runnable(self, tenant: str, host: str) -> bool:
        return (
            self.free > 0
            and self._on_host.get(host, 0) < self.per_host
            and (self.free > self.reserve or self._held.get(tenant, 0) < self.light)
        )

    def _grant(self, tenant: str, host: str) -> None:
        self.free -= 1
        self._held[tenant] = self._held.get(tenant, 0) + 1
        self._on_host[host] = self._on_host.get(host, 0) + 1

    def _dispatch(self) -> None:
        # One grant per tenant per round, in ring order; a tenant served moves to the back of the ring.
        progress = True
        while progress and self.free > 0 and self._waiting:
            progress = False
            for tenant in list(self._waiting):
                if self.free == 0:
                    return
                if self._grant_oldest_runnable(tenant):
                    progress = True

    def _grant_oldest_runnable(self, tenant: str) -> bool:
        hosts = self._waiting[tenant]
        best: str | None = None
        best_seq = 0
        for host, queue in list(hosts.items()):
            while queue and queue[0][1].done():  # cancelled, not yet forgotten by its task
                queue.popleft()
            if not queue:
                del hosts[host]
                continue
            if self._runnable(tenant, host) and (best is None or queue[0][0] < best_seq):
                best, best_seq = host, queue[0][0]
        if best is None:
            if not hosts:
                del self._waiting[tenant]
            return False
        queue = hosts[best]
        _, future = queue.popleft()
        if not queue:
            del hosts[best]
        if hosts:
            self._waiting.move_to_end(tenant)
        else:
            del self._waiting[tenant]
        self._grant(tenant, best)
        future.set_result(None)
        return True

    def _forget(self, tenant: str, host: str, future: asyncio.Future[None]) -> None:
        hosts = self._waiting.get(tenant)
        queue = hosts.get(host) if hosts is not None else None
        if hosts is None or queue is None:
            return
        for i, (_, queued) in enumerate(queue):
            if queued is future:
                del queue[i]
                break
        if not queue:
            del hosts[host]
        if not hosts:
            del self._waiting[tenant]

    @staticmethod
    def _decrement(counts: dict[str, int], key: str) -> None:
        left = counts[key] - 1
        if left:
            counts[key] = left
        else:
            del counts[key]


class _Lease:
    __slots__ = ("_host", "_slots", "_tenant")

    def __init__(self, slots: FairSlots, tenant: str, host: str) -> None:
        self._slots = slots
        self._tenant = tenant
        self._host = host

    async def __aenter__(self) -> None:
        await self._slots.take(self._tenant, self._host)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._slots.give(self._tenant, self._host)
