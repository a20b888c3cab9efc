"""The fair pick among tenants when more is due than a step fires (decision 0028): the pure shares, then the
buckets' overdue backlog that serves them round robin, step after step."""

from __future__ import annotations

import pytest

from services.timer.buckets import TimeBuckets
from services.timer.fairness import shares


@pytest.mark.parametrize(
    ("due", "cap", "takes", "start"),
    [
        # Two tenants, one huge: the small one takes all it has, the huge one the rest of the cap.
        ([100_000, 1], 1_000, [999, 1], 0),
        ([1, 100_000], 1_000, [1, 999], 0),
        # Three tenants, all over their share: an equal split, the remainder to the ring's first, which moves on.
        ([500, 500, 500], 10, [4, 3, 3], 1),
        ([500, 500, 500], 9, [3, 3, 3], 0),
        # What one leaves of its share goes to the others (work conserving).
        ([2, 500, 500], 10, [2, 4, 4], 0),
        ([2, 500, 500], 9, [2, 4, 3], 2),
        # A tenant alone takes the whole cap.
        ([100_000], 1_000, [1_000], 0),
        # Everything fits: all of it.
        ([3, 4], 10, [3, 4], 0),
        # A tenant with nothing due takes nothing and is no turn.
        ([0, 5, 5], 3, [0, 2, 1], 2),
        ([], 10, [], 0),
    ],
)
def test_shares_round_robin_across_tenants_wasting_nothing(
    due: list[int], cap: int, takes: list[int], start: int
) -> None:
    # Given each tenant's count of due entries, in ring order, and the step's cap
    # When the step's shares are decided
    got = shares(due, cap)
    # Then each tenant takes at most an equal share and the cap is used as far as there is work
    assert got == (takes, start)
    assert sum(got[0]) == min(cap, sum(due))


def _arm(buckets: TimeBuckets, tenant: str, count: int, due_ms: int, step_ms: int = 0) -> None:
    for i in range(count):
        buckets.arm(f"{tenant}-{i:06}", due_ms + i * step_ms, partition=1, tenant=tenant)


def test_a_tenant_with_one_due_entry_fires_in_the_next_step_however_many_another_has() -> None:
    # Given tenant A with 10,000 entries due at T and tenant B with one due just after
    buckets = TimeBuckets(width_ms=1000)
    _arm(buckets, "A", 10_000, 10_000)
    buckets.arm("b-1", 10_050, partition=2, tenant="B")
    # When a step capped at 100 pops
    fired = buckets.pop_due_limited(11_000, 100)
    # Then B's entry is among them, and A's 99 are its earliest, in due order (ties by key)
    assert ("b-1", 2, 10_050, "B") in fired
    assert [job for job, _, _, tenant in fired if tenant == "A"] == [f"A-{i:06}" for i in range(99)]
    # And the rest waits in the backlog, still counted as armed and due now
    assert len(buckets) == 10_000 - 99 and buckets.backlog == 10_000 - 99
    assert buckets.next_due_ms() == 10_000 and "A-000099" in buckets


def test_entries_falling_due_later_join_the_backlog_and_are_served_at_once() -> None:
    # Given A's backlog, and B's entries due one every 50 ms after T
    buckets = TimeBuckets(width_ms=1000)
    _arm(buckets, "A", 5_000, 10_000)
    _arm(buckets, "B", 40, 10_050, step_ms=50)
    # When steps capped at 100 run 100 ms apart
    b_fired_at: dict[str, int] = {}
    now = 10_000
    while len(buckets):
        now += 100
        for job, _, due, tenant in buckets.pop_due_limited(now, 100):
            assert due <= now
            if tenant == "B":
                b_fired_at[job] = now - due
    # Then every B entry fired in the first step after it fell due (lateness under one step), all of A too
    assert len(b_fired_at) == 40 and max(b_fired_at.values()) < 100


def test_the_backlog_keeps_each_tenants_due_order_and_takes_back_a_steps_leftover() -> None:
    # Given a backlog of two tenants after a capped step
    buckets = TimeBuckets(width_ms=1000)
    _arm(buckets, "A", 10, 1_000, step_ms=10)
    _arm(buckets, "B", 10, 1_005, step_ms=10)
    first = buckets.pop_due_limited(5_000, 4)
    assert [job for job, *_ in first] == ["A-000000", "B-000000", "A-000001", "B-000001"]
    # When the last one is armed again at its own due (a byte cap left it), and steps go on
    job, partition, due, tenant = first[-1]
    buckets.arm(job, due, partition, tenant)
    rest = [job for step in range(10) for job, *_ in buckets.pop_due_limited(5_000, 4)]
    # Then it comes back first of its tenant, and each tenant's entries stay in due order
    assert [j for j in rest if j.startswith("B")] == [f"B-{i:06}" for i in range(1, 10)]
    assert [j for j in rest if j.startswith("A")] == [f"A-{i:06}" for i in range(2, 10)]
    assert len(buckets) == 0 and buckets.next_due_ms() is None and buckets.backlog == 0


def test_entries_cancelled_or_re_armed_while_in_the_backlog() -> None:
    # Given a backlog of A and B
    buckets = TimeBuckets(width_ms=1000)
    _arm(buckets, "A", 6, 1_000)
    _arm(buckets, "B", 6, 1_000)
    buckets.pop_due_limited(2_000, 2)
    assert buckets.backlog == 10
    # When one of A's is cancelled, one of B's re-armed an hour later, and all of A's others cancelled by partition
    buckets.cancel("A-000002")
    buckets.arm("B-000003", 3_600_000, partition=1, tenant="B")
    assert "A-000002" not in buckets and "B-000003" in buckets and len(buckets) == 9
    # Then the next steps fire neither, and B, alone due, takes the whole cap
    buckets.drop([f"A-{i:06}" for i in range(3, 6)])
    fired = buckets.pop_due_limited(2_000, 10)
    assert [job for job, *_ in fired] == ["A-000001", "B-000001", "B-000002", "B-000004", "B-000005"]
    assert buckets.backlog == 0 and buckets.next_due_ms() == 3_600_000
    # And with the backlog gone, everything due that fits comes out in due order again
    buckets.arm("z", 1_500, tenant="Z")
    buckets.arm("y", 1_400, tenant="Y")
    assert [job for job, *_ in buckets.pop_due_limited(2_000, 10)] == ["y", "z"]


def test_dropping_partitions_empties_their_backlog() -> None:
    # Given a backlog over two partitions
    buckets = TimeBuckets(width_ms=1000)
    for i in range(6):
        buckets.arm(f"j{i}", 1_000 + i, partition=i % 2, tenant=f"T{i % 3}")
    buckets.pop_due_limited(2_000, 1)
    # When partition 0 goes
    gone = buckets.drop_partitions({0})
    # Then its entries are neither counted nor fired
    assert gone == 2 and len(buckets) == 3
    assert sorted(job for job, *_ in buckets.pop_due_limited(2_000, 10)) == ["j1", "j3", "j5"]
    assert len(buckets) == 0 and buckets.pop_due(10_000) == []


def test_pop_due_takes_the_backlog_too_in_due_order() -> None:
    # Given a backlog and entries still in buckets
    buckets = TimeBuckets(width_ms=1000)
    _arm(buckets, "A", 3, 1_000)
    buckets.arm("b", 1_001, tenant="B")
    buckets.pop_due_limited(1_500, 1)
    buckets.arm("late", 2_500, tenant="B")
    # When everything due is popped without a cap
    # Then it comes in due order, backlog and buckets alike
    assert buckets.pop_due(3_000) == ["A-000001", "A-000002", "b", "late"]
