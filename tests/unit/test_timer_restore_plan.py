"""Where a partition's restore starts: the delta past the store's checkpoint, or the log's start (a rebuild)."""

from __future__ import annotations

import pytest

from services.timer.store import Checkpoint
from services.timer.store_restore import plan

NOW = 1_780_000_000_000
DAY = 86_400_000


@pytest.mark.parametrize(
    ("checkpoint", "low", "high", "start", "why"),
    [
        # A fresh checkpoint inside the log: the delta from it (to the end, or nothing when it is the end)
        (Checkpoint(700, NOW - 60_000), 0, 1_000, 700, ""),
        (Checkpoint(1_000, NOW - 60_000), 0, 1_000, 1_000, ""),
        # No file or an empty one: everything
        (None, 40, 1_000, 40, "no checkpoint"),
        # Records the store needs were deleted from the log
        (Checkpoint(30, NOW), 40, 1_000, 40, "below the log start"),
        # The topic was deleted and created again: its offsets start over
        (Checkpoint(5_000, NOW), 0, 1_000, 0, "past the log end"),
        # Old enough that compaction may have removed a tombstone written after it
        (Checkpoint(700, NOW - DAY // 2), 0, 1_000, 0, "delete.retention.ms"),
        (Checkpoint(700, NOW - DAY // 2 + 1), 0, 1_000, 700, ""),
    ],
)
def test_the_restore_starts_at_the_checkpoint_unless_it_cannot_be_trusted(
    checkpoint: Checkpoint | None, low: int, high: int, start: int, why: str
) -> None:
    # Given a store's checkpoint and the partition's log start and end, with tombstones kept a day
    # When the restore is planned
    planned, reason = plan(checkpoint, low, high, retention_ms=DAY, now_ms=NOW)
    # Then it starts where it may, and says why when it rebuilds
    assert planned == start
    assert (why in reason) if why else reason == ""


def test_an_unreadable_retention_makes_every_restore_a_rebuild() -> None:
    # Given a fresh checkpoint but a retention that could not be read (0)
    # When planned / Then it rebuilds
    assert plan(Checkpoint(700, NOW), 0, 1_000, retention_ms=0, now_ms=NOW) == (
        0,
        "checkpoint older than half of delete.retention.ms",
    )
