"""Which offsets are safe to commit when records finish out of order."""

from __future__ import annotations

from services.executor.offsets import OffsetTracker

TOPIC = "chronohook.job-events"


def test_nothing_to_commit_before_any_record() -> None:
    # Given a fresh tracker
    # Then there is nothing to commit and nothing in flight
    tracker = OffsetTracker()
    assert tracker.committable() == []
    assert tracker.in_flight() == 0


def test_out_of_order_completion_commits_only_below_the_oldest_in_flight() -> None:
    # Given records 10, 11 and 12 started on one partition
    tracker = OffsetTracker()
    for offset in (10, 11, 12):
        tracker.started(TOPIC, 0, offset)
    assert tracker.in_flight() == 3

    # When 11 and 12 finish before 10
    tracker.finished(TOPIC, 0, 12)
    tracker.finished(TOPIC, 0, 11)

    # Then the commit point stays at 10, the oldest unfinished record
    assert tracker.committable() == [(TOPIC, 0, 10)]
    assert tracker.in_flight() == 1

    # When 10 finishes
    tracker.finished(TOPIC, 0, 10)

    # Then everything up to 12 is committed: the next offset to read is 13
    assert tracker.committable() == [(TOPIC, 0, 13)]
    assert tracker.in_flight() == 0


def test_committable_only_reports_positions_that_moved() -> None:
    # Given a committed position
    tracker = OffsetTracker()
    tracker.started(TOPIC, 0, 0)
    tracker.finished(TOPIC, 0, 0)
    assert tracker.committable() == [(TOPIC, 0, 1)]

    # When nothing changes
    # Then nothing new is reported
    assert tracker.committable() == []

    # And a record started but not finished does not move it
    tracker.started(TOPIC, 0, 1)
    assert tracker.committable() == []


def test_skipped_records_move_the_commit_point() -> None:
    # Given a partition where records 0..4 were skipped (nothing to do)
    tracker = OffsetTracker()
    for offset in range(5):
        tracker.skipped(TOPIC, 1, offset)

    # Then the commit point moves past them
    assert tracker.committable() == [(TOPIC, 1, 5)]
    assert tracker.in_flight() == 0


def test_skipped_records_behind_an_in_flight_one_wait_for_it() -> None:
    # Given record 5 in flight and 6, 7 skipped
    tracker = OffsetTracker()
    tracker.started(TOPIC, 0, 5)
    tracker.skipped(TOPIC, 0, 6)
    tracker.skipped(TOPIC, 0, 7)

    # Then the commit point holds at 5
    assert tracker.committable() == [(TOPIC, 0, 5)]

    # When 5 finishes, it jumps past the skipped ones
    tracker.finished(TOPIC, 0, 5)
    assert tracker.committable() == [(TOPIC, 0, 8)]


def test_partitions_are_tracked_independently() -> None:
    # Given a slow record on partition 0 and finished ones on partition 1 and another topic
    tracker = OffsetTracker()
    tracker.started(TOPIC, 0, 100)
    tracker.started(TOPIC, 1, 7)
    tracker.finished(TOPIC, 1, 7)
    tracker.skipped("other", 0, 3)

    # Then each partition commits its own position
    assert sorted(tracker.committable()) == sorted([(TOPIC, 0, 100), (TOPIC, 1, 8), ("other", 0, 4)])


def test_forget_drops_a_revoked_partition() -> None:
    # Given a partition with a record in flight
    tracker = OffsetTracker()
    tracker.started(TOPIC, 2, 40)
    assert tracker.committable() == [(TOPIC, 2, 40)]

    # When the partition is revoked and forgotten
    tracker.forget(TOPIC, 2)

    # Then it is no longer in flight nor committed, and a late finish is harmless
    assert tracker.in_flight() == 0
    tracker.finished(TOPIC, 2, 40)
    assert tracker.committable() == []
