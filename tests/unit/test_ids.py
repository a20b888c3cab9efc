"""Ids: snowflakes, queue ids and QuedUp ids, all minted from an injected clock."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime

import pytest

from chronohook.clock import FixedClock, to_ms
from chronohook.ids import (
    EPOCH_MS,
    NODE_BITS,
    SEQUENCE_BITS,
    SnowflakeIds,
    deterministic_event_id,
    quedup_job_id,
    queue_id,
    retry_job_id,
)

START = datetime(2026, 4, 10, 14, 5, 0, tzinfo=UTC)


def test_snowflakes_are_unique_and_increasing_under_one_frozen_clock() -> None:
    # Given a generator whose clock never moves
    ids = SnowflakeIds(node_id=5, clock=FixedClock(START))

    # When it mints 10,000 ids (far more than the 64 a millisecond holds)
    minted = [ids.next_id() for _ in range(10_000)]

    # Then every id is distinct, strictly increasing and safe for JavaScript
    assert len(set(minted)) == len(minted)
    assert all(a < b for a, b in itertools.pairwise(minted))
    assert all(0 < i < 2**53 for i in minted)


def test_sequence_overflow_borrows_the_next_millisecond() -> None:
    # Given a frozen clock and a fresh generator
    ids = SnowflakeIds(node_id=3, clock=FixedClock(START))
    now_ms = to_ms(START) - EPOCH_MS

    # When one more id than a millisecond's sequence holds is minted
    minted = [ids.next_id() for _ in range(2**SEQUENCE_BITS + 1)]

    # Then the first 64 carry the current millisecond, sequences 0..63, and the node id
    shift = NODE_BITS + SEQUENCE_BITS
    assert [i >> shift for i in minted[:-1]] == [now_ms] * 2**SEQUENCE_BITS
    assert [i & (2**SEQUENCE_BITS - 1) for i in minted[:-1]] == list(range(2**SEQUENCE_BITS))
    assert {(i >> SEQUENCE_BITS) & (2**NODE_BITS - 1) for i in minted} == {3}
    # And the 65th borrows the next millisecond with sequence 0
    assert minted[-1] >> shift == now_ms + 1
    assert minted[-1] & (2**SEQUENCE_BITS - 1) == 0


def test_snowflakes_keep_increasing_when_the_clock_catches_up_after_borrowing() -> None:
    # Given a generator that borrowed a few milliseconds ahead of its clock
    clock = FixedClock(START)
    ids = SnowflakeIds(node_id=0, clock=clock)
    first = [ids.next_id() for _ in range(200)]

    # When the clock moves forward by one millisecond (still behind the borrowed time)
    clock.advance(0.001)
    second = [ids.next_id() for _ in range(200)]

    # Then the ids still never repeat nor go backwards
    allids = first + second
    assert all(a < b for a, b in itertools.pairwise(allids))


def test_snowflakes_never_remint_when_the_wall_clock_steps_back() -> None:
    # Given a generator that minted ids at some instant
    clock = FixedClock(START)
    ids = SnowflakeIds(node_id=6, clock=clock)
    before = [ids.next_id() for _ in range(100)]

    # When the wall clock steps back by ten seconds, then creeps forward again
    clock.advance(-10)
    after = [ids.next_id() for _ in range(100)]
    clock.advance(5)
    after += [ids.next_id() for _ in range(100)]

    # Then no id repeats and none goes backwards
    both = before + after
    assert all(a < b for a, b in itertools.pairwise(both))


def test_a_new_holder_starts_after_its_predecessors_window_even_with_a_clock_behind() -> None:
    # Given a generator told to mint only after a given millisecond, on a clock a second behind it
    floor_ms = to_ms(START) + 1_000
    ids = SnowflakeIds(node_id=2, clock=FixedClock(START), not_before_ms=floor_ms)

    # When it mints
    minted = [ids.next_id() for _ in range(200)]

    # Then every id carries that millisecond or a later one
    assert min(i >> (NODE_BITS + SEQUENCE_BITS) for i in minted) == floor_ms - EPOCH_MS


def test_two_nodes_never_collide_in_the_same_millisecond() -> None:
    # Given two generators on different nodes reading the same instant
    a = SnowflakeIds(node_id=1, clock=FixedClock(START))
    b = SnowflakeIds(node_id=2, clock=FixedClock(START))

    # When both mint ids
    ids_a = {a.next_id() for _ in range(500)}
    ids_b = {b.next_id() for _ in range(500)}

    # Then the sets are disjoint
    assert not ids_a & ids_b


@pytest.mark.parametrize("node", [-1, 2**NODE_BITS])
def test_node_id_out_of_range_is_refused(node: int) -> None:
    # Given / When / Then: a node id outside the 6-bit range is a programming error
    with pytest.raises(ValueError, match="node_id"):
        SnowflakeIds(node_id=node, clock=FixedClock(START))


def test_queue_id_is_stable_per_tenant_and_name() -> None:
    # Given the same (tenant, queue) pair asked twice
    first = queue_id("t1", "emails")
    again = queue_id("t1", "emails")

    # Then the id is stable, positive and JavaScript-safe
    assert first == again
    assert 0 < first < 2**53
    # And a different tenant or queue name gives a different id
    assert queue_id("t2", "emails") != first
    assert queue_id("t1", "emails2") != first


def test_queue_id_does_not_confuse_tenant_and_name_boundaries() -> None:
    # Given two pairs whose concatenation is identical
    # Then they still get different ids (the separator is part of the hash input)
    assert queue_id("ab", "c") != queue_id("a", "bc")


def test_quedup_ids_look_like_job_plus_26_chars_and_are_unique() -> None:
    # Given a frozen clock
    clock = FixedClock(START)

    # When many QuedUp ids are minted
    minted = [quedup_job_id(clock) for _ in range(1000)]

    # Then each is "job_" + 26 lowercase Crockford base32 characters, and they never repeat
    pattern = re.compile(r"^job_[0-9abcdefghjkmnpqrstvwxyz]{26}$")
    assert all(pattern.match(i) for i in minted), minted[:3]
    assert len(set(minted)) == len(minted)


def test_quedup_ids_are_time_ordered() -> None:
    # Given an id minted now and one minted a millisecond later
    clock = FixedClock(START)
    earlier = quedup_job_id(clock)
    clock.advance(0.001)
    later = quedup_job_id(clock)

    # Then the later id sorts after the earlier one
    assert earlier < later


def test_retry_job_ids_and_event_ids_are_deterministic() -> None:
    # Given the same inputs twice
    # Then the derived ids are equal, and differ when any input differs
    assert retry_job_id(847, 2) == retry_job_id(847, 2)
    assert retry_job_id(847, 2) != retry_job_id(847, 3)
    assert 0 < retry_job_id(847, 2) < 2**53
    assert deterministic_event_id("due", "x") == deterministic_event_id("due", "x")
    assert deterministic_event_id("due", "x") != deterministic_event_id("due", "y")
    assert deterministic_event_id("due", "x").startswith("evt_")
