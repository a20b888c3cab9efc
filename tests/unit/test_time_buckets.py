"""Time buckets: arm, cancel, re-arm; the next wake-up; popping what is due, earliest first."""

from __future__ import annotations

from services.timer.buckets import TimeBuckets


def test_empty_buckets_have_nothing_due() -> None:
    # Given no armed job
    buckets = TimeBuckets(width_ms=1000)
    # Then there is no wake-up and nothing to pop
    assert len(buckets) == 0
    assert buckets.next_due_ms() is None
    assert buckets.pop_due(10**15) == []


def test_arm_sets_the_next_due_time() -> None:
    # Given jobs armed in different buckets, out of order
    buckets = TimeBuckets(width_ms=1000)
    buckets.arm("late", 5_500)
    buckets.arm("early", 2_300)
    buckets.arm("mid", 2_700)

    # Then the next wake-up is the earliest due time, not a bucket boundary
    assert len(buckets) == 3
    assert buckets.next_due_ms() == 2_300


def test_cancel_removes_a_job_and_its_empty_bucket() -> None:
    # Given two jobs in different buckets
    buckets = TimeBuckets(width_ms=1000)
    buckets.arm("a", 1_100)
    buckets.arm("b", 3_100)

    # When the earlier one is cancelled
    buckets.cancel("a")

    # Then the next wake-up moves to the other and popping its time only returns it
    assert len(buckets) == 1
    assert buckets.next_due_ms() == 3_100
    assert buckets.pop_due(5_000) == ["b"]
    # And cancelling an unknown job is harmless
    buckets.cancel("nobody")
    assert len(buckets) == 0


def test_arm_with_none_cancels() -> None:
    # Given an armed job
    buckets = TimeBuckets()
    buckets.arm("a", 1_000)
    # When it is armed with no time
    buckets.arm("a", None)
    # Then it is gone
    assert len(buckets) == 0
    assert buckets.next_due_ms() is None


def test_rearm_moves_a_job_to_its_new_time() -> None:
    # Given a job armed at 9 s
    buckets = TimeBuckets(width_ms=1000)
    buckets.arm("a", 9_000)

    # When it is re-armed earlier, then later again
    buckets.arm("a", 1_500)
    assert buckets.next_due_ms() == 1_500
    buckets.arm("a", 7_250)

    # Then it is held once, at its latest time only
    assert len(buckets) == 1
    assert buckets.next_due_ms() == 7_250
    assert buckets.pop_due(7_000) == []
    assert buckets.pop_due(7_250) == ["a"]
    assert buckets.pop_due(100_000) == []


def test_pop_due_returns_every_due_job_across_buckets_earliest_first() -> None:
    # Given jobs spread over several buckets, armed in scrambled order
    buckets = TimeBuckets(width_ms=1000)
    for job, due in [("d", 3_900), ("a", 1_200), ("c", 3_100), ("b", 1_800), ("e", 9_000)]:
        buckets.arm(job, due)

    # When time reaches 4 s
    fired = buckets.pop_due(4_000)

    # Then the four due jobs come out in due-time order and the future one stays
    assert fired == ["a", "b", "c", "d"]
    assert len(buckets) == 1
    assert buckets.next_due_ms() == 9_000


def test_a_partially_due_bucket_keeps_its_future_jobs() -> None:
    # Given three jobs in the same 1 s bucket
    buckets = TimeBuckets(width_ms=1000)
    buckets.arm("x", 2_100)
    buckets.arm("y", 2_500)
    buckets.arm("z", 2_900)

    # When time reaches 2.5 s
    fired = buckets.pop_due(2_500)

    # Then only the jobs due by then fire (a job due exactly now included)
    assert fired == ["x", "y"]
    assert len(buckets) == 1
    assert buckets.next_due_ms() == 2_900
    # And the rest fires later
    assert buckets.pop_due(2_899) == []
    assert buckets.pop_due(2_900) == ["z"]
    assert len(buckets) == 0


def test_a_bucket_emptied_by_cancel_and_refilled_still_fires() -> None:
    # Given a bucket emptied by cancel (its heap key is dropped lazily) and refilled
    buckets = TimeBuckets(width_ms=1000)
    buckets.arm("a", 5_100)
    buckets.cancel("a")
    buckets.arm("b", 5_600)
    buckets.arm("c", 4_200)

    # Then both fire in order, once each
    assert buckets.next_due_ms() == 4_200
    assert buckets.pop_due(6_000) == ["c", "b"]
    assert buckets.pop_due(6_000) == []
    assert buckets.next_due_ms() is None


def test_drop_cancels_several_jobs() -> None:
    # Given three armed jobs
    buckets = TimeBuckets(width_ms=10)
    buckets.arm("a", 5)
    buckets.arm("b", 15)
    buckets.arm("c", 25)
    # When two are dropped
    buckets.drop(["a", "c"])
    # Then only the third remains
    assert buckets.pop_due(1_000) == ["b"]


def test_many_jobs_fire_in_order_over_many_buckets() -> None:
    # Given a thousand jobs at pseudo-random times with a small bucket width
    buckets = TimeBuckets(width_ms=7)
    dues = {f"j{i}": (i * 7919) % 5000 for i in range(1000)}
    for job, due in dues.items():
        buckets.arm(job, due)

    # When time advances in steps, popping what is due each time
    fired: list[str] = []
    for now in range(0, 5001, 333):
        batch = buckets.pop_due(now)
        # Then each batch holds exactly the jobs due by now and not yet fired
        assert all(dues[j] <= now for j in batch)
        fired.extend(batch)
    fired.extend(buckets.pop_due(5_000))

    # And every job fired exactly once, in non-decreasing due order
    assert sorted(fired) == sorted(dues)
    times = [dues[j] for j in fired]
    assert times == sorted(times)
