"""Entries of the near window grouped in time buckets: O(1) arm/cancel, the next wake-up without a full scan.

Only entries waking soon are armed here (decision 0026): the rest wait in the partition's store on disk. Each armed
entry carries its partition, so firing it needs no other lookup.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Collection


class TimeBuckets:
    """Maps job id -> due time (ms) and partition, grouped into buckets ``width_ms`` wide."""

    def __init__(self, width_ms: int = 1000) -> None:
        self._width = width_ms
        self._buckets: dict[int, dict[str, int]] = {}
        self._heap: list[int] = []
        # job id -> (bucket key, partition)
        self._where: dict[str, tuple[int, int]] = {}
        # A bucket popped in part (a capped step), sorted once: (due, job), earliest first; entries cancelled since
        # are skipped as they come up (their due in the bucket no longer matches).
        self._sorted: dict[int, list[tuple[int, str]]] = {}

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._where

    def arm(self, job_id: str, due_ms: int | None, partition: int = 0) -> None:
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
        self._where[job_id] = (key, partition)
        ordered = self._sorted.get(key)
        if ordered is not None:
            bisect.insort(ordered, (due_ms, job_id))

    def cancel(self, job_id: str) -> None:
        where = self._where.pop(job_id, None)
        if where is not None:
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
        return None if key is None else min(self._buckets[key].values())

    def pop_due(self, now_ms: int) -> list[str]:
        """Remove and return every job due at or before ``now_ms``, earliest first."""
        return [job for job, _ in self.pop_due_with_partitions(now_ms)]

    def pop_due_with_partitions(self, now_ms: int) -> list[tuple[str, int]]:
        """As ``pop_due``, each job with its partition."""
        fired: list[tuple[int, str, int]] = []
        while (key := self._first_key()) is not None and key * self._width <= now_ms:
            bucket = self._buckets[key]
            ready = [(due, job) for job, due in bucket.items() if due <= now_ms]
            for due, job in ready:
                del bucket[job]
                fired.append((due, job, self._where.pop(job)[1]))
            if bucket:
                break
            del self._buckets[key]
            self._sorted.pop(key, None)
            heapq.heappop(self._heap)
        fired.sort()
        return [(job, partition) for _, job, partition in fired]

    def pop_due_limited(self, now_ms: int, limit: int) -> list[tuple[str, int, int]]:
        """At most ``limit`` of the jobs due at or before ``now_ms``, earliest first (ties by job id), each with its
        partition and due time; the others stay armed, to come first next time."""
        fired: list[tuple[str, int, int]] = []
        while len(fired) < limit and (key := self._first_key()) is not None and key * self._width <= now_ms:
            bucket = self._buckets[key]
            ordered = self._sorted.get(key)
            if ordered is None:
                if len(bucket) <= limit - len(fired) and max(bucket.values()) <= now_ms:
                    # The whole bucket fits (the usual case): no sorted copy kept.
                    for due, job in sorted((due, job) for job, due in bucket.items()):
                        fired.append((job, self._where.pop(job)[1], due))
                    del self._buckets[key]
                    heapq.heappop(self._heap)
                    continue
                ordered = self._sorted[key] = sorted((due, job) for job, due in bucket.items())
            taken = 0
            for due, job in ordered:
                if len(fired) >= limit or due > now_ms:
                    break
                taken += 1
                if bucket.get(job) == due:  # else cancelled or re-armed since it was sorted
                    del bucket[job]
                    fired.append((job, self._where.pop(job)[1], due))
            del ordered[:taken]
            if bucket:
                break
            del self._buckets[key]
            self._sorted.pop(key, None)
            heapq.heappop(self._heap)
        return fired

    def drop(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            self.cancel(job_id)

    def drop_partitions(self, partitions: Collection[int]) -> int:
        """Cancel every job of ``partitions``; how many there were."""
        gone = [job for job, (_, partition) in self._where.items() if partition in partitions]
        self.drop(gone)
        return len(gone)
