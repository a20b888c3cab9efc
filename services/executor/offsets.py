"""Which offsets are safe to commit when records finish out of order: everything below the oldest unfinished."""

from __future__ import annotations


class OffsetTracker:
    def __init__(self) -> None:
        self._pending: dict[tuple[str, int], set[int]] = {}
        self._highest: dict[tuple[str, int], int] = {}
        self._committed: dict[tuple[str, int], int] = {}

    def started(self, topic: str, partition: int, offset: int) -> None:
        key = (topic, partition)
        self._pending.setdefault(key, set()).add(offset)
        self._highest[key] = max(self._highest.get(key, -1), offset)

    def skipped(self, topic: str, partition: int, offset: int) -> None:
        """A record with nothing to do: it only moves the commit point."""
        key = (topic, partition)
        self._highest[key] = max(self._highest.get(key, -1), offset)

    def finished(self, topic: str, partition: int, offset: int) -> None:
        self._pending.get((topic, partition), set()).discard(offset)

    def forget(self, topic: str, partition: int) -> None:
        key = (topic, partition)
        self._pending.pop(key, None)
        self._highest.pop(key, None)
        self._committed.pop(key, None)

    def in_flight(self) -> int:
        return sum(len(v) for v in self._pending.values())

    def committable(self) -> list[tuple[str, int, int]]:
        """(topic, partition, next offset) that moved since the last call."""
        out = []
        for key, highest in self._highest.items():
            pending = self._pending.get(key)
            nxt = min(pending) if pending else highest + 1
            if self._committed.get(key) != nxt:
                self._committed[key] = nxt
                out.append((key[0], key[1], nxt))
        return out
