"""The timer's metrics (decision 0042), read from the live service when scraped: nothing on its step's path.

- ``chronohook_timer_near_window_entries``: entries armed in RAM (waking within ``timer_near_window_s``).
- ``chronohook_timer_pending_entries``: every entry the timer holds for its partitions (jobs, retries, callbacks,
  alerts waiting for their instant), counted in its local stores at most once per ``COUNT_CACHE_S``.
- ``chronohook_timer_uncommitted_changes``, ``chronohook_timer_owned_partitions``, ``chronohook_timer_lead_seconds``.
- ``chronohook_consumer_lag_records{group="<prefix>.timer"}`` and ``chronohook_dead_records_total``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

from chronohook.kafka.groups import group_id
from chronohook.metrics import ConsumerLag, DeadRecords, Gauges, register_once

COUNT_CACHE_S = 10.0


class PendingCount:
    """Entries in the owned partitions' stores, each counted through a read-only connection of the scrape's own (the
    service's connections belong to its loop)."""

    def __init__(self, service: Any) -> None:
        self.service = service
        self._lock = threading.Lock()
        self._cache = (0.0, 0)

    def __call__(self) -> int:
        with self._lock:
            at, count = self._cache
            if time.monotonic() - at >= COUNT_CACHE_S:
                count = sum(self._count(p) for p in list(self.service.owned))
                self._cache = (time.monotonic(), count)
            return count

    def _count(self, partition: int) -> int:
        store = self.service.store
        if not hasattr(store, "path"):
            return int(store.count(partition))
        try:
            conn = sqlite3.connect(f"file:{store.path(partition)}?mode=ro", uri=True, timeout=1)
            try:
                (n,) = conn.execute("SELECT count(*) FROM entries").fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            return 0
        return int(n)


def register(service: Any) -> None:
    """The timer's collectors, reading ``service`` (a TimerService) when scraped."""
    pending = PendingCount(service)

    def read() -> dict[str, tuple[str, float]]:
        return {
            "timer_near_window_entries": ("Entries armed in RAM, waking within the near window.", len(service.buckets)),
            "timer_pending_entries": (
                "Entries the timer holds for its partitions, waiting for their instant.",
                pending(),
            ),
            "timer_uncommitted_changes": ("Entry changes of the step not yet committed.", len(service.pending)),
            "timer_owned_partitions": ("Job-log partitions this timer owns.", len(service.owned)),
            "timer_lead_seconds": (
                "How far ahead of its instant a due job is handed out.",
                service.lead.total_seconds(),
            ),
        }

    register_once(Gauges(read))
    register_once(DeadRecords())
    register_once(ConsumerLag(service.settings, group_id(service.settings, "timer"), [service.topics.events]))
