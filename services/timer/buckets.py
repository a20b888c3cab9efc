"""Pending jobs grouped in time buckets: O(1) arm/cancel, and the next wake-up found without a full scan."""

from __future__ import annotations

import heapq


class TimeBuckets:
    """Maps job id -> due time (ms), grouped into buckets ``width_ms`` wide."""

    def __init__(self, width_ms: int = 1000) -> None:
        self._width = width_ms
        self._buckets: dict[int, dict[str, int]] = {}
        self._heap: list[int] = []
        self._where: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._where)

    def arm(self, job_id: str, due_ms: int | None) -> None:
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
        self._where[job_id] = key

    def cancel(self, job_id: str) -> None:
        key = self._where.pop(job_id, None)
        if key is not None:
            bucket = self._buckets[key]
            del bucket[job_id]
            if not bucket:
                del self._buckets[key]  # its heap key is dropped lazily

    def _first_key(self) -> int | None:
        while self._heap and self._heap[0] not in self._buckets:
            heapq.heappop(self._heap)
        return self._heap[0] if self._heap else None

    def next_due_ms(self) -> int | None:
        key = self._first_key()
        return None if key is None else min(self._buckets[key].values())

    def pop_due(self, now_ms: int) -> list[str]:
        """Remove and return every job due at or before ``now_ms``, earliest first."""
        fired: list[tuple[int, str]] = []
        while (key := self._first_key()) is not None and key * self._width <= now_ms:
            bucket = self._buckets[key]
            ready = [(due, job) for job, due in bucket.items() if due <= now_ms]
            for _, job in ready:
                del bucket[job]
                del self._where[job]
            fired.extend(ready)
            if bucket:
                break
            del self._buckets[key]
            heapq.heappop(self._heap)
        fired.sort()
        return [job for _, job in fired]

    def drop(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            self.cancel(job_id)
