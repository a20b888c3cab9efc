"""Entries of the near window grouped in time buckets: O(1) arm/cancel, the next wake-up without a full scan.

Only entries waking soon are armed here (decision 0026): the rest wait in the partition's store on disk. Each armed
entry carries its partition, so firing it needs no other lookup, and its tenant, for a fair pick among tenants when
more is due than a step may fire (decision 0028).

A capped pop that finds more due than its cap moves every due entry into the *overdue backlog*: per tenant, a deque
in due order, and a ring of the tenants in it. That step and the following ones serve the backlog round robin
across tenants (services/timer/fairness.py); entries falling due later join it, behind their tenant's earlier ones.
So a tenant with one due entry has it fired in the next step however many another tenant has due, and a backlog of
100,000 entries is sorted once, not scanned again at every step. When everything due fits in the cap (the usual
case), no backlog is kept: all of it is fired, in due order.
"""

from __future__ import annotations

import bisect
import heapq
import sys
from collections import deque
from collections.abc import Collection

from services.timer.fairness import shares


class TimeBuckets:
    """Maps job id -> due time (ms), partition and tenant, grouped into buckets ``width_ms`` wide."""

    def __init__(self, width_ms: int = 1000) -> None:
        self._width = width_ms
        self._buckets: dict[int, dict[str, int]] = {}
        self._heap: list[int] = []
        # job id -> (bucket key, partition, tenant: one interned string per tenant); for an entry in the overdue
        # backlog, ~due (negative: due times are epoch ms, never negative) instead of the bucket key.
        self._where: dict[str, tuple[int, int, str]] = {}
        # A bucket popped in part, sorted once: (due, job), earliest first; entries cancelled since are skipped as
        # they come up (their due in the bucket no longer matches).
        self._sorted: dict[int, list[tuple[int, str]]] = {}
        # The overdue backlog: tenant -> (due, job) in due order (a cancelled or re-armed entry's stale pair is skipped
        # when it comes up); how many live entries each tenant has there; the ring of its tenants.
        self._backlog: dict[str, deque[tuple[int, str]]] = {}
        self._live: dict[str, int] = {}
        self._ring: deque[str] = deque()

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._where

    @property
    def backlog(self) -> int:
        """How many entries wait in the overdue backlog."""
        return sum(self._live.values())

    def arm(self, job_id: str, due_ms: int | None, partition: int = 0, tenant: str = "") -> None:
        """Set (or, with ``None``, cancel) the job's due time."""
        self.cancel(job_id)
        if due_ms is None:
            return
        key = due_ms // self._width
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = {}
            heapq.heappush(self._heap, key)
        bucket[job_id] = due_ms
        self._where[job_id] = (key, partition, sys.intern(tenant))
        ordered = self._sorted.get(key)
        if ordered is not None:
            bisect.insort(ordered, (due_ms, job_id))

    def cancel(self, job_id: str) -> None:
        where = self._where.pop(job_id, None)
        if where is None:
            return
        if where[0] < 0:
            self._live[where[2]] -= 1  # its pair stays in the tenant's deque, skipped when it comes up
            return
        bucket = self._buckets[where[0]]
        del bucket[job_id]
        if not bucket:
            del self._buckets[where[0]]  # its heap key is dropped lazily
            self._sorted.pop(where[0], None)

    def _first_key(self) -> int | None:
        while self._heap and self._heap[0] not in self._buckets:
            heapq.heappop(self._heap)
        return self._heap[0] if self._heap else None

    def next_due_ms(self) -> int | None:
        key = self._first_key()
        due = None if key is None else min(self._buckets[key].values())
        for tenant in self._ring:
            front = self._front(tenant)
            if front is not None and (due is None or front[0] < due):
                due = front[0]
        return due

    def pop_due(self, now_ms: int) -> list[str]:
        """Remove and return every job due at or before ``now_ms``, earliest first."""
        return [job for job, _ in self.pop_due_with_partitions(now_ms)]

    def pop_due_with_partitions(self, now_ms: int) -> list[tuple[str, int]]:
        """As ``pop_due``, each job with its partition."""
        fired = self._forget(self._take_due(now_ms))
        for tenant in self._ring:
            fired.extend(self._serve(tenant, self._live[tenant], now_ms))
        self._prune()
        fired.sort()
        return [(job, partition) for _, job, partition, _ in fired]

    def pop_due_limited(self, now_ms: int, limit: int) -> list[tuple[str, int, int, str]]:
        """At most ``limit`` of the jobs due at or before ``now_ms``, each with its partition, due time and tenant;
        the others stay, to come first next time. All of them in due order (ties by job id) when they fit;
        otherwise chosen round robin across tenants, each tenant's in due order."""
        due = self._take_due(now_ms)
        if not self._ring and len(due) <= limit:
            return [(job, partition, at, tenant) for at, job, partition, tenant in self._forget(due)]
        self._to_backlog(due)
        ring = self._ring
        takes, start = shares([self._live[tenant] for tenant in ring], limit)
        served = [self._serve(tenant, n, now_ms) for tenant, n in zip(ring, takes, strict=True) if n]
        ring.rotate(-start)
        self._prune()
        # Interleaved (one of each tenant a turn), so a byte cap that cuts the step short cuts it fairly too.
        fired = [item for turn in _interleave(served) for item in turn]
        return [(job, partition, at, tenant) for at, job, partition, tenant in fired]

    def _take_due(self, now_ms: int) -> list[tuple[int, str, int, str]]:
        """Every job due at or before ``now_ms`` out of the buckets: (due, job, partition, tenant), due order; the
        caller forgets them or moves them into the backlog."""
        where = self._where
        fired: list[tuple[int, str, int, str]] = []
        while (key := self._first_key()) is not None and key * self._width <= now_ms:
            bucket = self._buckets[key]
            ordered = self._sorted.get(key)
            if ordered is None:
                if max(bucket.values()) <= now_ms:
                    # The whole bucket is due (the usual case): no sorted copy kept.
                    for due, job in sorted((due, job) for job, due in bucket.items()):
                        _, partition, tenant = where[job]
                        fired.append((due, job, partition, tenant))
                    del self._buckets[key]
                    heapq.heappop(self._heap)
                    continue
                ordered = self._sorted[key] = sorted((due, job) for job, due in bucket.items())
            taken = 0
            for due, job in ordered:
                if due > now_ms:
                    break
                taken += 1
                if bucket.get(job) == due:  # else cancelled or re-armed since it was sorted
                    del bucket[job]
                    _, partition, tenant = where[job]
                    fired.append((due, job, partition, tenant))
            del ordered[:taken]
            if bucket:
                break
            del self._buckets[key]
            self._sorted.pop(key, None)
            heapq.heappop(self._heap)
        fired.sort()
        return fired

    def _forget(self, due: list[tuple[int, str, int, str]]) -> list[tuple[int, str, int, str]]:
        where = self._where
        for _, job, _, _ in due:
            del where[job]
        return due

    def _to_backlog(self, due: list[tuple[int, str, int, str]]) -> None:
        """Due entries (in due order) into their tenants' backlogs, behind what each has there already."""
        by_tenant: dict[str, list[tuple[int, str]]] = {}
        where = self._where
        for at, job, partition, tenant in due:
            pairs = by_tenant.get(tenant)
            if pairs is None:
                pairs = by_tenant[tenant] = []
            pairs.append((at, job))
            where[job] = (~at, partition, tenant)
        for tenant, pairs in by_tenant.items():
            queue = self._backlog.get(tenant)
            if queue is None:
                self._backlog[tenant] = deque(pairs)
                self._live[tenant] = len(pairs)
                self._ring.append(tenant)
                continue
            self._live[tenant] += len(pairs)
            for pair in pairs:
                if not queue or queue[-1] <= pair:
                    queue.append(pair)
                else:  # armed again at an earlier due (a step's leftover): back to its place
                    queue.insert(bisect.bisect(queue, pair), pair)

    def _front(self, tenant: str) -> tuple[int, str] | None:
        """The tenant's first live backlog pair (stale ones dropped)."""
        queue, where = self._backlog[tenant], self._where
        while queue and ((found := where.get(queue[0][1])) is None or found[0] != ~queue[0][0]):
            queue.popleft()
        return queue[0] if queue else None

    def _serve(self, tenant: str, n: int, now_ms: int) -> list[tuple[int, str, int, str]]:
        """Up to ``n`` of the tenant's backlog due by ``now_ms``, earliest first; the tenant leaves the backlog
        is pruned when it has none left."""
        out: list[tuple[int, str, int, str]] = []
        while len(out) < n and (front := self._front(tenant)) is not None and front[0] <= now_ms:
            due, job = self._backlog[tenant].popleft()
            out.append((due, job, self._where.pop(job)[1], tenant))
        self._live[tenant] -= len(out)
        return out

    def _prune(self) -> None:
        """Tenants with nothing left in the backlog leave it (and the ring), their stale pairs with them."""
        if any(not self._live[tenant] for tenant in self._ring):
            for tenant in [t for t in self._ring if not self._live[t]]:
                del self._backlog[tenant], self._live[tenant]
            self._ring = deque(t for t in self._ring if t in self._live)

    def drop(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            self.cancel(job_id)

    def drop_partitions(self, partitions: Collection[int]) -> int:
        """Cancel every job of ``partitions``; how many there were."""
        gone = [job for job, (_, partition, _) in self._where.items() if partition in partitions]
        self.drop(gone)
        return len(gone)


def _interleave(lists: list[list[tuple[int, str, int, str]]]) -> list[list[tuple[int, str, int, str]]]:
    """Turns: the first of each list, then the second of each, ..."""
    longest = max((len(one) for one in lists), default=0)
    return [[one[i] for one in lists if i < len(one)] for i in range(longest)]
