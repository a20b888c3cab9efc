"""Node-id leases on one SQLite file: free ids, refused ids, expiry, renewal, loss; the clocks are injected."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select

from chronohook.clock import FixedClock, to_ms
from chronohook.ids import EPOCH_MS, NODE_BITS, SEQUENCE_BITS, SnowflakeIds
from chronohook.store.engine import create_schema, make_engine
from chronohook.store.leases import (
    LeaseKeeper,
    LeaseTerms,
    NodeIdTaken,
    NodeLease,
    NodeLeaseError,
    NodeLeaseLapsed,
    NodeLeaseLost,
    NoFreeNodeId,
)
from chronohook.store.tables import node_leases
from tests.support.postgres import new_database

START = datetime(2026, 4, 10, 14, 5, 0, tzinfo=UTC)
TERMS = LeaseTerms(ttl_seconds=30, margin_seconds=10, renew_every_seconds=5)


class FakeMonotonic:
    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    # The same statements must hold on both backends: the compare-and-set is the whole lease.
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'leases.db'}")
    else:
        # A database of its own: a test drops node_leases, and a database at the head revision is not re-created.
        engine = make_engine(new_database(request.getfixturevalue("postgres_url")))
    create_schema(engine)
    with engine.begin() as conn:
        conn.execute(delete(node_leases))
    try:
        yield engine
    finally:
        engine.dispose()


def leaser(engine: Engine, clock: FixedClock, mono: FakeMonotonic | None = None, name: str = "p") -> NodeLease:
    return NodeLease(engine, clock, TERMS, monotonic=mono or FakeMonotonic(), holder_info=name)


def node_of(snowflake: int) -> int:
    return (snowflake >> SEQUENCE_BITS) & ((1 << NODE_BITS) - 1)


def test_two_leasers_on_one_database_get_different_node_ids(engine: Engine) -> None:
    # Given one process holding a lease
    clock = FixedClock(START)
    first = leaser(engine, clock, name="first")
    first.acquire()

    # When a second process asks for any free node id
    second = leaser(engine, clock, name="second")
    second.acquire()

    # Then it gets another one
    assert first.node_id != second.node_id


def test_an_explicit_node_id_held_by_a_live_process_is_refused_with_a_clear_error(engine: Engine) -> None:
    # Given a process holding node id 7
    clock = FixedClock(START)
    leaser(engine, clock, name="host-a:123").acquire(preferred=7)

    # When another asks for node id 7 explicitly
    # Then it is refused, and the message names the holder and the setting
    with pytest.raises(NodeIdTaken, match=r"node id 7 .*CHRONOHOOK_NODE_ID.*host-a:123"):
        leaser(engine, clock).acquire(preferred=7)


def test_an_explicit_free_node_id_is_granted(engine: Engine) -> None:
    # Given an empty lease table
    # When a process asks for node id 42
    lease = leaser(engine, FixedClock(START))

    # Then it holds 42
    assert lease.acquire(preferred=42) == 42


def test_an_expired_lease_lets_a_new_holder_in_and_the_old_one_learns_it_lost(engine: Engine) -> None:
    # Given a process holding node id 3 that stops renewing (paused, or its database link down)
    clock = FixedClock(START)
    old = leaser(engine, clock, name="old")
    old.acquire(preferred=3)
    old_expiry = engine_expiry(engine, 3)

    # When the lease's TTL has passed and a new process asks for node id 3
    clock.advance(TERMS.ttl_seconds + 0.001)
    new = leaser(engine, clock, name="new")

    # Then it gets it, and mints only after the old holder's window
    assert new.acquire(preferred=3) == 3
    assert new.not_before_ms > old_expiry
    # And the old holder's next renewal says the lease is lost, and it refuses to mint from then on
    with pytest.raises(NodeLeaseLost):
        old.renew()
    with pytest.raises(NodeLeaseLost):
        old.check()


def test_a_lease_is_not_taken_one_millisecond_before_it_expires(engine: Engine) -> None:
    # Given a lease on node id 0
    clock = FixedClock(START)
    leaser(engine, clock).acquire(preferred=0)

    # When exactly its TTL has passed (not more)
    clock.advance(TERMS.ttl_seconds)

    # Then it is still held
    with pytest.raises(NodeIdTaken):
        leaser(engine, clock).acquire(preferred=0)


def test_renewal_keeps_a_lease_alive_past_its_first_ttl(engine: Engine) -> None:
    # Given a holder that renews every 5 s for a minute
    clock, mono = FixedClock(START), FakeMonotonic()
    lease = leaser(engine, clock, mono)
    lease.acquire(preferred=9)
    for _ in range(12):
        clock.advance(5)
        mono.value += 5
        lease.renew()
        lease.check()

    # When another process asks for node id 9
    # Then it is refused: the lease is alive
    with pytest.raises(NodeIdTaken):
        leaser(engine, clock).acquire(preferred=9)


def test_a_renewal_after_the_wall_clock_stepped_back_does_not_shorten_the_lease(engine: Engine) -> None:
    # Given a lease on node id 8
    clock = FixedClock(START)
    lease = leaser(engine, clock)
    lease.acquire(preferred=8)
    promised = engine_expiry(engine, 8)

    # When the wall clock steps back a minute and the lease is renewed
    clock.advance(-60)
    lease.renew()

    # Then the expiry stays where it was promised
    assert engine_expiry(engine, 8) == promised


def test_minting_stops_margin_seconds_before_others_may_take_over(engine: Engine) -> None:
    # Given a lease and an id generator minting under it
    clock, mono = FixedClock(START), FakeMonotonic()
    lease = leaser(engine, clock, mono)
    ids = SnowflakeIds(lease.acquire(), clock, permit=lease, not_before_ms=lease.not_before_ms)
    ids.next_id()

    # When no renewal happens for TTL - margin seconds (the process was paused, say)
    mono.value += TERMS.ttl_seconds - TERMS.margin_seconds

    # Then minting is refused, although no other process may take the node id for another 10 s
    with pytest.raises(NodeLeaseLapsed):
        ids.next_id()
    # And a successful renewal (nobody took the node id) lets it mint again
    lease.renew()
    assert node_of(ids.next_id()) == lease.node_id


def test_a_lost_lease_stops_minting_and_tells_the_process(engine: Engine) -> None:
    # Given a holder whose renewals the keeper makes, and an id generator under its lease
    clock, mono = FixedClock(START), FakeMonotonic()
    lease = leaser(engine, clock, mono, name="old")
    ids = SnowflakeIds(lease.acquire(preferred=5), clock, permit=lease, not_before_ms=lease.not_before_ms)
    lost: list[bool] = []
    keeper = LeaseKeeper(lease, TERMS, on_lost=lambda: lost.append(True))
    ids.next_id()

    # When the process sleeps past its lease and another process takes node id 5
    clock.advance(TERMS.ttl_seconds + 1)
    mono.value += TERMS.ttl_seconds + 1
    successor = leaser(engine, clock, name="new")
    successor.acquire(preferred=5)

    # Then the keeper's next renewal reports the loss, once, and the generator never mints again
    assert keeper.renew_once() is False
    assert lost == [True]
    with pytest.raises(NodeLeaseLost):
        ids.next_id()
    # And the row still belongs to the successor
    with engine.connect() as conn:
        holder = conn.execute(select(node_leases.c.holder_info).where(node_leases.c.node_id == 5)).scalar_one()
    assert holder == "new"


def test_a_database_error_during_renewal_is_not_a_loss(engine: Engine) -> None:
    # Given a lease whose database goes away (the table vanishes)
    clock = FixedClock(START)
    lease = leaser(engine, clock)
    lease.acquire()
    lost: list[bool] = []
    keeper = LeaseKeeper(lease, TERMS, on_lost=lambda: lost.append(True))
    node_leases.drop(engine)

    # When the keeper renews
    # Then it keeps trying (the lease lapses on its own if this lasts) and does not report a loss
    assert keeper.renew_once() is True
    assert lost == []


def test_giving_a_node_id_back_frees_it_after_the_last_millisecond_minted(engine: Engine) -> None:
    # Given a holder that borrowed milliseconds ahead of its clock (more than 64 ids in one millisecond)
    clock = FixedClock(START)
    lease = leaser(engine, clock, name="old")
    ids = SnowflakeIds(lease.acquire(preferred=1), clock, permit=lease, not_before_ms=lease.not_before_ms)
    minted = [ids.next_id() for _ in range(2**SEQUENCE_BITS * 3)]
    last_ms = (minted[-1] >> (NODE_BITS + SEQUENCE_BITS)) + EPOCH_MS

    # When it closes (clean shutdown)
    ids.close()

    # Then it mints no more
    with pytest.raises(RuntimeError):
        ids.next_id()
    # And a successor gets node id 1 once the clock passes the last millisecond minted, not before
    with pytest.raises(NodeIdTaken):
        leaser(engine, clock).acquire(preferred=1)
    clock.set(datetime.fromtimestamp((last_ms + 1) / 1000, UTC))
    successor = leaser(engine, clock, name="new")
    assert successor.acquire(preferred=1) == 1
    # And every id the successor mints is above the old holder's, even if its clock is behind
    clock.set(START)
    after = SnowflakeIds(1, clock, permit=successor, not_before_ms=successor.not_before_ms)
    assert min(after.next_id() for _ in range(100)) > max(minted)


def test_a_renewal_after_release_does_not_take_the_node_id_again(engine: Engine) -> None:
    # Given a lease given back
    clock = FixedClock(START)
    lease = leaser(engine, clock)
    lease.acquire(preferred=2)
    lease.close(to_ms(clock.now()))
    released_until = engine_expiry(engine, 2)

    # When a late renewal runs (the keeper thread woke up just then)
    lease.renew()

    # Then the row is unchanged and minting is refused
    assert engine_expiry(engine, 2) == released_until
    with pytest.raises(NodeLeaseError):
        lease.check()


def test_when_every_node_id_is_held_a_new_process_is_refused(engine: Engine) -> None:
    # Given 64 live holders
    clock = FixedClock(START)
    held = {leaser(engine, clock, name=f"p{i}").acquire() for i in range(2**NODE_BITS)}
    assert held == set(range(2**NODE_BITS))

    # When a 65th asks
    # Then it is refused
    with pytest.raises(NoFreeNodeId):
        leaser(engine, clock).acquire()


def test_a_holder_whose_lease_expired_untaken_keeps_it_by_renewing(engine: Engine) -> None:
    # Given a holder whose lease expired (it was paused) while no other process took the node id
    clock = FixedClock(START)
    holder = leaser(engine, clock, name="holder")
    holder.acquire(preferred=4)
    clock.advance(TERMS.ttl_seconds + 5)

    # When it renews
    holder.renew()

    # Then the node id is its own again: another process asking for it is refused
    with pytest.raises(NodeIdTaken):
        leaser(engine, clock).acquire(preferred=4)


def engine_expiry(engine: Engine, node_id: int) -> int:
    with engine.connect() as conn:
        value = conn.execute(select(node_leases.c.expires_ms).where(node_leases.c.node_id == node_id)).scalar_one()
    return int(value)
