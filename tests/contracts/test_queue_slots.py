"""One contract for queue slot stores: in memory, on SQLite and on PostgreSQL the same claims win and lose."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete

from chronohook.store.engine import create_schema, make_engine
from chronohook.store.queue_slots import MemorySlotStore, SlotQueue, SlotStore, SqlSlotStore
from chronohook.store.tables import queue_slots

NOW = 1_780_000_000_000  # Unix ms
LATER = NOW + 30_000
Q = SlotQueue("tenant-a", 4_242)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SlotStore]:
    if request.param == "memory":
        yield MemorySlotStore()
        return
    url = f"sqlite:///{tmp_path / 'slots.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    create_schema(engine)
    with engine.begin() as conn:
        conn.execute(delete(queue_slots))
    try:
        yield SqlSlotStore(engine)
    finally:
        engine.dispose()


def test_a_queue_gives_out_exactly_its_limit_of_slots(store: SlotStore) -> None:
    # Given a queue with max_parallelism 2
    # When three holders claim
    first = store.claim(Q, 2, "h1", NOW, LATER)
    second = store.claim(Q, 2, "h2", NOW, LATER)
    third = store.claim(Q, 2, "h3", NOW, LATER)
    # Then two get distinct slots and the third none
    assert {first, second} == {0, 1}
    assert third is None
    assert store.live(Q, NOW) == 2


def test_a_released_slot_goes_to_the_next_claimer(store: SlotStore) -> None:
    # Given a full queue of one slot
    slot = store.claim(Q, 1, "h1", NOW, LATER)
    assert slot == 0
    # When its holder releases it
    store.release(Q, slot, "h1")
    # Then another claimer takes it
    assert store.claim(Q, 1, "h2", NOW, LATER) == 0
    assert store.live(Q, NOW) == 1


def test_release_is_idempotent_and_never_frees_another_holders_slot(store: SlotStore) -> None:
    # Given h1 held slot 0, gave it back, and h2 took it
    store.claim(Q, 1, "h1", NOW, LATER)
    store.release(Q, 0, "h1")
    store.claim(Q, 1, "h2", NOW, LATER)
    # When h1 releases again, and a stranger releases too
    store.release(Q, 0, "h1")
    store.release(Q, 0, "stranger")
    # Then h2 still holds it
    assert store.live(Q, NOW) == 1
    assert store.claim(Q, 1, "h3", NOW, LATER) is None


def test_an_expired_hold_is_reclaimed_and_its_old_holder_can_neither_extend_nor_release_it(store: SlotStore) -> None:
    # Given h1 holds the only slot until LATER, and its executor died
    store.claim(Q, 1, "h1", NOW, LATER)
    # When another claimer comes at LATER (the expiry itself is no longer live)
    taken = store.claim(Q, 1, "h2", LATER, LATER + 30_000)
    # Then it takes the slot, and the old holder's extend and release change nothing
    assert taken == 0
    assert store.extend(Q, 0, "h1", LATER + 60_000) is False
    store.release(Q, 0, "h1")
    assert store.live(Q, LATER) == 1
    assert store.claim(Q, 1, "h3", LATER, LATER + 30_000) is None


def test_extend_moves_the_expiry_for_its_holder(store: SlotStore) -> None:
    # Given h1 holds a slot until LATER
    store.claim(Q, 1, "h1", NOW, LATER)
    # When it extends the hold
    assert store.extend(Q, 0, "h1", LATER + 60_000) is True
    # Then at LATER the slot is still held
    assert store.claim(Q, 1, "h2", LATER, LATER + 30_000) is None
    assert store.live(Q, LATER + 59_999) == 1


def test_holds_above_a_lowered_limit_count_against_it(store: SlotStore) -> None:
    # Given three jobs in flight under max_parallelism 3
    for holder in ("h1", "h2", "h3"):
        store.claim(Q, 3, holder, NOW, LATER)
    # When the limit becomes 2 and slots 0 and 1 end
    store.release(Q, 0, "h1")
    store.release(Q, 1, "h2")
    # Then one more may start (slot 2 still counts), not two
    assert store.claim(Q, 2, "h4", NOW, LATER) is not None
    assert store.claim(Q, 2, "h5", NOW, LATER) is None


@pytest.mark.parametrize("other", [SlotQueue("tenant-a", 4_243), SlotQueue("tenant-b", 4_242)], ids=["queue", "tenant"])
def test_queues_do_not_share_slots_nor_do_tenants_whose_queue_ids_collide(store: SlotStore, other: SlotQueue) -> None:
    # Given queue Q full
    store.claim(Q, 1, "h1", NOW, LATER)
    # When a job of another queue claims, or of another tenant's queue with the same id
    # Then it gets a slot of its own
    assert store.claim(other, 1, "h2", NOW, LATER) == 0
    assert store.live(other, NOW) == 1
    assert store.live(Q, NOW) == 1


def test_concurrent_claimers_never_exceed_the_limit(store: SlotStore) -> None:
    # Given 12 claimers released at one moment against a queue of 3 slots
    start = threading.Barrier(12)
    won: list[int] = []
    lock = threading.Lock()

    def claimer(i: int) -> None:
        start.wait(10)
        slot = store.claim(Q, 3, f"h{i}", NOW, LATER)
        if slot is not None:
            with lock:
                won.append(slot)

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # Then at most three won, each a distinct slot, and the store counts exactly those
    assert len(won) == len(set(won)) <= 3
    assert store.live(Q, NOW) == len(won)
    assert len(won) >= 1


def test_a_claim_is_idempotent_per_holder(store: SlotStore) -> None:
    # Given h1 claimed a slot but its caller saw an error (the commit's answer was lost)
    first = store.claim(Q, 2, "h1", NOW, LATER)
    # When h1 claims again
    again = store.claim(Q, 2, "h1", NOW, LATER)
    # Then it gets the same slot, and holds one slot only
    assert again == first
    assert store.live(Q, NOW) == 1
