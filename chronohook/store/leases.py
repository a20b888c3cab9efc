"""Node-id leases: each ingest process mints integer ids under a node id no live process holds (decision 0013).

A lease is one row of ``node_leases``: the node id, a random token of the holding process and the Unix millisecond at
which it expires. Every change is a compare-and-set on what was read (``UPDATE ... WHERE holder = ... AND expires_ms =
...``, checked by its row count; an ``INSERT`` for a node id never used), so two processes never both win one node id,
on SQLite and PostgreSQL alike.

Time: ``expires_ms`` is the holder's wall clock (the injected ``Clock``) plus the TTL; a process takes over a node id
only when its own wall clock is past it. The holder stops minting ``margin`` seconds before that, counted on its
monotonic clock from the start of its last successful renewal, so clocks that differ by less than the margin never
let two processes mint under one node id. A successor also mints only after the row's old ``expires_ms``
(``not_before_ms``), so the ids of successive holders differ in their millisecond part whatever their clocks say.

Other services lease numbers the same way in their own space (``service=``, rows of ``service_leases``): the timer
its transactional id. There a holder may also carry a ``claim_key``, its stable name: a process starting under the
claim key of a row's holder is that holder restarted, and takes the number back at once, live lease or not.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine, Table, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from chronohook.clock import Clock, to_ms
from chronohook.errors import ChronohookError
from chronohook.ids import NODE_BITS, SnowflakeIds
from chronohook.store.tables import node_leases, service_leases

log = logging.getLogger("chronohook.leases")

NODE_IDS = range(2**NODE_BITS)


class NodeLeaseError(ChronohookError):
    """A node id could not be held, or is no longer held."""


class NodeIdTaken(NodeLeaseError):
    """The node id asked for (``CHRONOHOOK_NODE_ID``) is held by a live process."""


class NoFreeNodeId(NodeLeaseError):
    """Every node id is held by a live process."""


class NodeLeaseLost(NodeLeaseError):
    """Another process took this process's node id (it holds the row now): never mint under it again."""


class NodeLeaseLapsed(NodeLeaseError):
    """The lease was not renewed in time (database unreachable, process paused): no ids until it is."""


@dataclass(frozen=True)
class LeaseTerms:
    # How long a lease lasts past its last renewal, as other processes see it (wall clock).
    ttl_seconds: float = 30.0
    # The holder stops minting this long before others may take over: covers clock differences between hosts.
    margin_seconds: float = 10.0
    renew_every_seconds: float = 5.0

    def __post_init__(self) -> None:
        if not 0 < self.margin_seconds < self.ttl_seconds:
            raise ValueError("the margin must be positive and shorter than the TTL")
        if not 0 < self.renew_every_seconds < self.ttl_seconds - self.margin_seconds:
            raise ValueError("renewals must come more often than the lease's usable part (TTL - margin)")


class NodeLease:
    """One process's lease on one node id: ``acquire`` once, ``renew`` often, ``check`` before minting, ``close``.

    It is the ``MintPermit`` of that process's ``SnowflakeIds``.
    """

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        terms: LeaseTerms | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        holder_info: str | None = None,
        service: str | None = None,
        claim_key: str | None = None,
    ) -> None:
        if claim_key is not None and service is None:
            # Ingest's ids rely on a successor waiting out the old lease (the minting margin above).
            raise ValueError("a claim key takes a live lease over: only for a service's lease space, not ingest's")
        self._engine = engine
        self._service = service
        self._table: Table = node_leases if service is None else service_leases
        self._claim_key = None if claim_key is None else claim_key[:255]
        self._who = "ingest" if service is None else service
        self._clock = clock
        self._terms = terms or LeaseTerms()
        self._monotonic = monotonic
        self._holder = secrets.token_hex(16)
        self._info = (holder_info or f"{socket.gethostname()}:{os.getpid()}")[:255]
        self._lock = threading.Lock()
        # Renewal and release write one after the other, never crossing: a release is never undone by a renewal.
        self._writing = threading.Lock()
        self._closed = False
        self._node_id: int | None = None
        self._not_before_ms = 0
        self._expires_ms = 0  # the expiry this process last wrote
        self._usable_until = float("-inf")  # monotonic seconds
        self._lost = False

    def _row(self, node_id: int) -> list[ColumnElement[bool]]:
        where = [self._table.c.node_id == node_id]
        if self._service is not None:
            where.append(self._table.c.service == self._service)
        return where

    def _key(self, node_id: int) -> dict[str, object]:
        if self._service is None:
            return {"node_id": node_id}
        return {"service": self._service, "node_id": node_id, "claim_key": self._claim_key}

    @property
    def node_id(self) -> int:
        if self._node_id is None:
            raise NodeLeaseError("no node id acquired yet")
        return self._node_id

    @property
    def not_before_ms(self) -> int:
        """Ids minted under this lease must carry a millisecond after this (the previous holder's expiry)."""
        return self._not_before_ms

    def acquire(self, preferred: int | None = None) -> int:
        """Hold ``preferred`` (refused with NodeIdTaken when a live process holds it), or any free node id."""
        if self._node_id is not None:
            raise NodeLeaseError(f"this lease already holds node id {self._node_id}")
        if preferred is not None:
            if preferred not in NODE_IDS:
                raise ValueError(f"node id must be in [0, {len(NODE_IDS) - 1}]")
            holder = self._try(preferred)
            if holder is not None:
                raise NodeIdTaken(
                    f"node id {preferred} (CHRONOHOOK_NODE_ID) is held by a live process ({holder}); every "
                    f"{self._who} process needs its own. Leave CHRONOHOOK_NODE_ID unset to lease a free one."
                )
            return preferred
        # Stable when possible: the number this claim key held last, so a restart keeps its transactional id.
        candidates: list[int] = [*self._claimed_before(), *NODE_IDS]
        for node_id in candidates:
            if self._try(node_id) is None:
                return node_id
        raise NoFreeNodeId(f"all {len(NODE_IDS)} node ids are held by live {self._who} processes")

    def _claimed_before(self) -> list[int]:
        if self._claim_key is None:
            return []
        table = self._table
        with self._engine.begin() as conn:
            rows = conn.execute(
                select(table.c.node_id)
                .where(table.c.service == self._service, table.c.claim_key == self._claim_key)
                .order_by(table.c.node_id)
            ).all()
        return [int(row.node_id) for row in rows]

    def _try(self, node_id: int) -> str | None:
        """Claim ``node_id``; None when claimed, else a description of its live holder."""
        # Two rounds: a node id first inserted by a concurrent starter is read back once before giving up on it.
        for _ in range(2):
            started = self._monotonic()
            now_ms = to_ms(self._clock.now())
            expires_ms = now_ms + int(self._terms.ttl_seconds * 1000)
            table = self._table
            columns = [table.c.holder, table.c.holder_info, table.c.expires_ms]
            if self._service is not None:
                columns.append(table.c.claim_key)
            with self._engine.begin() as conn:
                row = conn.execute(select(*columns).where(*self._row(node_id))).first()
            restarted = row is not None and self._claim_key is not None and row[3] == self._claim_key
            if row is not None and row.expires_ms >= now_ms and not restarted:
                return f"{row.holder_info}, lease expiring in {(row.expires_ms - now_ms) / 1000:.1f} s"
            values = {"holder": self._holder, "holder_info": self._info, "expires_ms": expires_ms}
            try:
                with self._engine.begin() as conn:
                    if row is None:
                        conn.execute(insert(table).values(**self._key(node_id), **values))
                        claimed = True
                    else:
                        claimed = (
                            conn.execute(
                                update(table)
                                .where(
                                    *self._row(node_id),
                                    table.c.holder == row.holder,
                                    table.c.expires_ms == row.expires_ms,
                                )
                                .values(**self._key(node_id), **values)
                            ).rowcount
                            == 1
                        )
            except IntegrityError:
                claimed = False
            if claimed:
                with self._lock:
                    self._node_id = node_id
                    self._not_before_ms = max(now_ms, 0 if row is None else row.expires_ms + 1)
                    self._expires_ms = expires_ms
                    self._usable_until = started + self._terms.ttl_seconds - self._terms.margin_seconds
                log.info("leased %s node id %d (%s)", self._who, node_id, self._info)
                return None
        return "another process that claimed it at the same moment"

    @property
    def closed(self) -> bool:
        return self._closed

    def renew(self) -> None:
        """Extend the lease; NodeLeaseLost when another process holds the row now. Database errors propagate."""
        node_id = self.node_id
        with self._writing:
            if self._closed:
                return
            if self._lost:
                raise NodeLeaseLost(f"node id {node_id} was taken over by another process")
            started = self._monotonic()
            # Never earlier than already promised: a wall clock stepped back must not hand the node id out early.
            expires_ms = max(self._expires_ms, to_ms(self._clock.now()) + int(self._terms.ttl_seconds * 1000))
            with self._engine.begin() as conn:
                renewed = conn.execute(
                    update(self._table)
                    .where(*self._row(node_id), self._table.c.holder == self._holder)
                    .values(expires_ms=expires_ms)
                ).rowcount
        with self._lock:
            if renewed != 1:
                self._lost = True
                self._usable_until = float("-inf")
                raise NodeLeaseLost(f"node id {node_id} was taken over by another process after this one's lapsed")
            self._expires_ms = expires_ms
            self._usable_until = max(self._usable_until, started + self._terms.ttl_seconds - self._terms.margin_seconds)

    def check(self) -> None:
        if self._closed:
            raise NodeLeaseError(f"the lease on node id {self._node_id} was given back")
        if self._lost:
            raise NodeLeaseLost(f"node id {self._node_id} was taken over by another process")
        if self._monotonic() >= self._usable_until:
            raise NodeLeaseLapsed(f"the lease on node id {self._node_id} was not renewed in time")

    def close(self, last_ms: int) -> None:
        """Give the node id back: it is free once the clock passes ``last_ms``, the last millisecond minted."""
        with self._writing:
            if self._closed:
                return
            with self._lock:
                self._closed, self._usable_until = True, float("-inf")
            if self._node_id is None or self._lost:
                return
            free_from = max(last_ms, to_ms(self._clock.now()))
            with self._engine.begin() as conn:
                conn.execute(
                    update(self._table)
                    .where(*self._row(self._node_id), self._table.c.holder == self._holder)
                    .values(expires_ms=free_from)
                )
        log.info("gave %s node id %d back", self._who, self._node_id)


class LeaseKeeper:
    """Renews a lease in a background thread; when the lease is lost, calls ``on_lost`` (the process exits)."""

    def __init__(
        self, lease: NodeLease, terms: LeaseTerms | None = None, on_lost: Callable[[], None] | None = None
    ) -> None:
        self._lease = lease
        self._every = (terms or LeaseTerms()).renew_every_seconds
        self._on_lost = on_lost
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="node-lease", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._every) and not self._lease.closed:
            if not self.renew_once():
                return

    def renew_once(self) -> bool:
        """One renewal; False once the lease is lost (there is nothing left to renew)."""
        try:
            self._lease.renew()
        except NodeLeaseLost:
            log.error("node id %d lost to another process: this process may not use it again", self._lease.node_id)
            if self._on_lost is not None:
                self._on_lost()
            return False
        except SQLAlchemyError:  # the database may be away a while: minting lapses on its own, renewal retries
            log.warning("could not renew the lease on node id %d", self._lease.node_id, exc_info=True)
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5)


def leased_ids(
    engine: Engine,
    clock: Clock,
    preferred: int | None = None,
    on_lost: Callable[[], None] | None = None,
    terms: LeaseTerms | None = None,
) -> SnowflakeIds:
    """An id generator under a node id leased now and renewed in the background until ``close()`` gives it back.

    ``preferred``: the node id asked for (NodeIdTaken when a live process holds it); None takes any free one.
    """
    terms = terms or LeaseTerms()
    lease = NodeLease(engine, clock, terms)
    ids = SnowflakeIds(lease.acquire(preferred), clock, permit=lease, not_before_ms=lease.not_before_ms)
    LeaseKeeper(lease, terms, on_lost).start()
    return ids
