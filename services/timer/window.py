"""The near window read from the stores a page at a time (decision 0028).

Restoring after an outage, or sliding the window over a million entries waking at one instant, never loads all of
them: each read of a partition's wake index takes at most ``page`` entries, in (wake, key) order. A partition whose
page came back full is *behind*: its cursor is the last (wake, key) armed, and its entries past the cursor are not
armed (not even a change decided now: the store gives it back in its page). The shell reads a behind partition's
next page while there is room under ``max_armed`` (so a burst's pages pass quickly, and another tenant's entries
after it are armed and fired in turn), so RAM holds at most ``max_armed`` entries, whatever waits on disk. A
partition with more than ``max_armed`` entries armed stops arming new ones (they wait in the store, paged in).
"""

from __future__ import annotations

from services.timer.store import EntryStore, Waking

# The highest key: a cursor (ms, LAST_KEY) is past every entry waking at ms.
LAST_KEY = "\U0010ffff"


class Paging:
    def __init__(self, page: int, max_armed: int) -> None:
        self.page = page
        self.max_armed = max_armed
        # Behind partitions -> the last (wake_ms, key) armed from their store.
        self.behind: dict[int, tuple[int, str]] = {}

    def read(self, store: EntryStore, partition: int, after_ms: int | None, until_ms: int) -> list[Waking]:
        """The partition's next page waking by ``until_ms``: after its cursor when it is behind, else after
        ``after_ms`` (from the beginning of time when None)."""
        cursor = self.behind.get(partition)
        if cursor is not None:
            rows = store.waking(partition, cursor[0], until_ms, after_key=cursor[1], limit=self.page)
        else:
            rows = store.waking(partition, after_ms, until_ms, limit=self.page)
        if len(rows) >= self.page:
            self.behind[partition] = (rows[-1].wake_ms, rows[-1].key)
        else:
            self.behind.pop(partition, None)
        return rows

    def covers(self, partition: int, key: str, wake_ms: int) -> bool:
        """True when an entry waking at ``wake_ms`` is armed now, not paged in later."""
        cursor = self.behind.get(partition)
        return cursor is None or (wake_ms, key) <= cursor

    def defer(self, partition: int, wake_ms: int) -> None:
        """Arm nothing of ``partition`` from ``wake_ms`` on: its pages bring it (and, harmlessly, again any entry
        at that instant armed already)."""
        cursor = (wake_ms - 1, LAST_KEY)
        self.behind[partition] = min(self.behind.get(partition, cursor), cursor)

    def forget(self, partitions: set[int]) -> None:
        for partition in partitions:
            self.behind.pop(partition, None)
