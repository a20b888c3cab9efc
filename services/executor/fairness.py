"""Fair delivery slots: the executor's asyncio shell around the admission policy (admission.py).

The rule itself (capacity and reserve, per-host cap, fair shares that waste nothing, round robin across tenants then
hosts, urgent first) is ``Admission``'s, a pure policy (docs/decisions/0029-admission-no-tenant-can-hold.md, which
replaces the rule of 0011). This module gives it two ways in:

* ``park(tenant, host, start)``: nothing waits. ``start(lease)`` is called once the policy admits the attempt (at
  once if it may start now); it starts the attempt and returns True, or returns False when the attempt is gone, and
  the slot goes on to the next. The executor's loop parks every record this way: no task exists before admission.
* ``async with slots.acquire(tenant, host):`` for a task that is already running (a job that first waited for its
  queue's slot, decision 0017; tests): it parks a future, and holds the slot for the block.

A slot is held from admission to ``Lease.release`` (idempotent); every release hands freed capacity on at once.
Cancellation-safe: a waiter cancelled while parked is withdrawn, one cancelled after its grant gives the slot back.
One event loop only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import lru_cache
from types import TracebackType
from urllib.parse import urlsplit

from services.executor.admission import Admission, Limits, default_reserve

__all__ = ["FairSlots", "Lease", "default_reserve", "host_key"]

Start = Callable[["Lease"], bool]


@lru_cache(maxsize=1024)
def host_key(url: str) -> str:
    """The host a URL's request counts against: its hostname, lowercased, without a trailing dot.

    Cached: a burst sends thousands of attempts to a few URLs, and parsing each was 4.5% of the executor's CPU."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    return (host or "").rstrip(".")


class Lease:
    """One admitted slot; ``release`` (or leaving ``async with``) gives it back, once."""

    __slots__ = ("_given", "_slots", "host", "tenant")

    def __init__(self, slots: FairSlots, tenant: str, host: str) -> None:
        self._slots = slots
        self.tenant = tenant
        self.host = host
        self._given = False

    def release(self) -> None:
        if not self._given:
            self._given = True
            self._slots.give(self.tenant, self.host)

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class FairSlots:
    """Slots for attempts in flight, shared fairly across tenants and capped per host."""

    def __init__(self, total: int, per_host: int, reserve: int | None = None, light: int | None = None) -> None:
        self.limits = Limits.of(total, per_host, reserve, light)
        self.policy: Admission[Start] = Admission(self.limits)

    @property
    def total(self) -> int:
        return self.limits.total

    @property
    def reserve(self) -> int:
        return self.limits.reserve

    @property
    def light(self) -> int:
        return self.limits.light

    @property
    def free(self) -> int:
        """Slots of ``total`` nobody holds (negative while light tenants use the reserve beyond it)."""
        return self.limits.total - self.policy.running

    def held(self, tenant: str) -> int:
        return self.policy.held(tenant)

    def on_host(self, host: str) -> int:
        return self.policy.on_host(host)

    def waiting(self) -> int:
        return self.policy.parked

    def idle(self) -> bool:
        return self.policy.idle()

    def park(self, tenant: str, host: str, start: Start, urgent: bool = False) -> None:
        """Call ``start(lease)`` when the policy admits this attempt (maybe now); it must release the lease."""
        if self.policy.start_now(tenant, host):  # nothing parked: no queue to join
            if not start(Lease(self, tenant, host)):
                self.give(tenant, host)
            return
        self.policy.park(start, tenant, host, urgent)
        self._dispatch()

    def acquire(self, tenant: str, host: str, urgent: bool = False) -> _Acquire:
        """``async with slots.acquire(tenant, host):`` holds one slot for the block."""
        return _Acquire(self, tenant, host, urgent)

    def give(self, tenant: str, host: str) -> None:
        """Return a slot (``Lease.release`` calls this), and start whatever may start now."""
        self.policy.finish(tenant, host)
        self._dispatch()

    def withdraw(self, start: Start, tenant: str, host: str, urgent: bool = False) -> None:
        """Take back an attempt parked and not yet admitted; one fewer tenant waiting may raise the others' share."""
        if self.policy.withdraw(start, tenant, host, urgent):
            self._dispatch(drain=True)

    def _dispatch(self, drain: bool = False) -> None:
        # After one attempt parked or one slot given back, one admission is all the change can allow (the policy was
        # quiet before it): stop at the first attempt started, and spare a walk of the rings that admits nothing. A
        # rare further one (a tenant leaving the parked set raises the others' share) waits for the next change,
        # which comes: the attempt just started will end.
        admit, finish = self.policy.admit, self.policy.finish
        while (got := admit()) is not None:
            if got.item(Lease(self, got.tenant, got.host)):
                if not drain:
                    return
            else:
                finish(got.tenant, got.host)  # its waiter is gone: the slot goes on


class _Acquire:
    __slots__ = ("_host", "_lease", "_slots", "_tenant", "_urgent")

    def __init__(self, slots: FairSlots, tenant: str, host: str, urgent: bool) -> None:
        self._slots = slots
        self._tenant = tenant
        self._host = host
        self._urgent = urgent
        self._lease: Lease | None = None

    async def __aenter__(self) -> None:
        if self._slots.policy.start_now(self._tenant, self._host):
            self._lease = Lease(self._slots, self._tenant, self._host)
            return
        future: asyncio.Future[Lease] = asyncio.get_running_loop().create_future()

        def start(lease: Lease) -> bool:
            if future.done():
                return False
            future.set_result(lease)
            return True

        self._slots.park(self._tenant, self._host, start, self._urgent)
        try:
            self._lease = await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                future.result().release()  # granted, then cancelled before it could run: hand the slot on
            else:
                self._slots.withdraw(start, self._tenant, self._host, self._urgent)
            raise

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._lease is not None
        self._lease.release()
