"""Queue slots: at most ``limit`` jobs of one queue in flight across every executor process (decision 0017).

A queue's slots are rows of ``queue_slots`` keyed ``(tenant, queue_id, slot)`` with ``slot`` in ``0 .. limit - 1``: the
holder's token and the Unix millisecond at which the hold expires. A slot is free when its row is missing, released
(``holder = ""``, ``expires_ms = 0``) or expired. Claiming one is a compare-and-set on what was read, as the node-id
lease does (chronohook/store/leases.py): an ``INSERT`` for a slot never used (a concurrent ``INSERT`` loses on the
primary key), else ``UPDATE ... WHERE holder = <read> AND expires_ms = <read>`` checked by its row count. So one slot
row never has two live holders, on SQLite and PostgreSQL alike, and at most ``limit`` jobs hold slots below
``limit``.

A lowered limit: live holds on slots at or above the new limit (taken under the old one) count against it, so new
claims wait until the queue is under the new limit. The count and the claim are two statements, so two claimers
racing while such an old hold ends may briefly exceed the new limit, never the old one.

The port (``SlotStore``) has two implementations: ``SqlSlotStore`` (the shared database, what executors use) and
``MemorySlotStore`` (one process; unit tests). Both are synchronous and thread-safe; the executor calls them from a
worker thread (services/executor/queue_gate.py). Time is passed in as Unix milliseconds.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from chronohook.store.tables import queue_slots

RELEASED = ""


@dataclass(frozen=True)
class SlotQueue:
    """Whose slots: a tenant's queue (its 53-bit id alone could collide with another tenant's)."""

    tenant: str
    queue_id: int


class SlotStore(Protocol):
    def claim(self, queue: SlotQueue, limit: int, holder: str, now_ms: int, expires_ms: int) -> int | None:
        """Take a free slot of the queue for ``holder`` until ``expires_ms``: its number, or None when the queue has
        ``limit`` live holds (or every free slot was taken by another claimer meanwhile). Idempotent per holder: a
        holder that already holds a live slot of the queue gets that one back."""
        ...

    def extend(self, queue: SlotQueue, slot: int, holder: str, expires_ms: int) -> bool:
        """Move the hold's expiry to ``expires_ms``; False when ``holder`` no longer holds the slot."""
        ...

    def release(self, queue: SlotQueue, slot: int, holder: str) -> None:
        """Give the slot back; nothing when ``holder`` does not hold it (any more): idempotent."""
        ...

    def live(self, queue: SlotQueue, now_ms: int) -> int:
        """How many of the queue's slots are held and unexpired at ``now_ms``."""
        ...


def _of(queue: SlotQueue) -> ColumnElement[bool]:
    return and_(queue_slots.c.tenant == queue.tenant, queue_slots.c.queue_id == queue.queue_id)


def _is_live(holder: str, expires_ms: int, now_ms: int) -> bool:
    return holder != RELEASED and expires_ms > now_ms


class SqlSlotStore:
    """Slots in the shared database (``make_engine``'s SQLite file or PostgreSQL): every executor sees the same."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim(self, queue: SlotQueue, limit: int, holder: str, now_ms: int, expires_ms: int) -> int | None:
        if limit < 1:
            raise ValueError("a queue's limit is at least 1")
        if not holder:
            raise ValueError("a holder token is not empty")
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(queue_slots.c.slot, queue_slots.c.holder, queue_slots.c.expires_ms).where(_of(queue))
            ).all()
        seen = {row.slot: row for row in rows}
        for mine in rows:  # a claim of this holder's that landed although its caller saw an error
            if mine.holder == holder and _is_live(mine.holder, mine.expires_ms, now_ms):
                return int(mine.slot)
        if sum(1 for held in rows if _is_live(held.holder, held.expires_ms, now_ms)) >= limit:
            return None
        for slot in range(limit):
            row = seen.get(slot)
            if row is not None and _is_live(row.holder, row.expires_ms, now_ms):
                continue
            try:
                with self._engine.begin() as conn:
                    if row is None:
                        conn.execute(
                            insert(queue_slots).values(
                                tenant=queue.tenant,
                                queue_id=queue.queue_id,
                                slot=slot,
                                holder=holder,
                                expires_ms=expires_ms,
                            )
                        )
                        return slot
                    taken = conn.execute(
                        update(queue_slots)
                        .where(
                            _of(queue),
                            queue_slots.c.slot == slot,
                            queue_slots.c.holder == row.holder,
                            queue_slots.c.expires_ms == row.expires_ms,
                        )
                        .values(holder=holder, expires_ms=expires_ms)
                    ).rowcount
            except IntegrityError:  # another claimer inserted this slot first
                continue
            if taken == 1:
                return slot
        return None

    def extend(self, queue: SlotQueue, slot: int, holder: str, expires_ms: int) -> bool:
        with self._engine.begin() as conn:
            moved = conn.execute(
                update(queue_slots)
                .where(_of(queue), queue_slots.c.slot == slot, queue_slots.c.holder == holder)
                .values(expires_ms=expires_ms)
            ).rowcount
        return bool(moved == 1)

    def release(self, queue: SlotQueue, slot: int, holder: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(queue_slots)
                .where(_of(queue), queue_slots.c.slot == slot, queue_slots.c.holder == holder)
                .values(holder=RELEASED, expires_ms=0)
            )

    def live(self, queue: SlotQueue, now_ms: int) -> int:
        with self._engine.connect() as conn:
            count = conn.execute(
                select(func.count()).where(
                    and_(
                        _of(queue),
                        queue_slots.c.holder != RELEASED,
                        queue_slots.c.expires_ms > now_ms,
                    )
                )
            ).scalar_one()
        return int(count)


class MemorySlotStore:
    """The same rules in one process's memory (unit tests; an executor without a shared database bounds itself)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[SlotQueue, int], tuple[str, int]] = {}

    def claim(self, queue: SlotQueue, limit: int, holder: str, now_ms: int, expires_ms: int) -> int | None:
        if limit < 1:
            raise ValueError("a queue's limit is at least 1")
        if not holder:
            raise ValueError("a holder token is not empty")
        with self._lock:
            rows = {slot: row for (owner, slot), row in self._rows.items() if owner == queue}
            for slot, (held_by, expires) in rows.items():
                if held_by == holder and _is_live(held_by, expires, now_ms):
                    return slot
            if sum(1 for h, e in rows.values() if _is_live(h, e, now_ms)) >= limit:
                return None
            for slot in range(limit):
                row = rows.get(slot)
                if row is None or not _is_live(*row, now_ms):
                    self._rows[(queue, slot)] = (holder, expires_ms)
                    return slot
        return None

    def extend(self, queue: SlotQueue, slot: int, holder: str, expires_ms: int) -> bool:
        with self._lock:
            row = self._rows.get((queue, slot))
            if row is None or row[0] != holder:
                return False
            self._rows[(queue, slot)] = (holder, expires_ms)
            return True

    def release(self, queue: SlotQueue, slot: int, holder: str) -> None:
        with self._lock:
            row = self._rows.get((queue, slot))
            if row is not None and row[0] == holder:
                # Released rows are dropped: the in-memory store keeps only what is held.
                del self._rows[(queue, slot)]

    def live(self, queue: SlotQueue, now_ms: int) -> int:
        with self._lock:
            return sum(1 for (owner, _), row in self._rows.items() if owner == queue and _is_live(*row, now_ms))
