"""The timer's lease space (decision 0013): its own numbers beside ingest's, lowest free or explicit, taken back at
once by a restart under the same claim key, and the transactional and group instance ids derived from it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, delete, inspect, select, text

from chronohook.clock import FixedClock
from chronohook.settings import Settings
from chronohook.store.engine import create_schema, make_engine
from chronohook.store.leases import LeaseTerms, NodeIdTaken, NodeLease, NodeLeaseLost
from chronohook.store.tables import node_leases, service_leases
from services.timer.identity import LEASE_SPACE, TimerIdentity, lease_identity

START = datetime(2026, 4, 10, 14, 5, 0, tzinfo=UTC)
TERMS = LeaseTerms(ttl_seconds=30, margin_seconds=10, renew_every_seconds=5)


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = make_engine("sqlite://")  # in memory: one connection per thread, and the tests stay on one
    create_schema(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


def timer_lease(engine: Engine, clock: FixedClock, key: str | None, name: str = "t") -> NodeLease:
    return NodeLease(engine, clock, TERMS, monotonic=lambda: 0.0, holder_info=name, service=LEASE_SPACE, claim_key=key)


def test_timer_numbers_are_leased_apart_from_ingest_node_ids(engine: Engine, clock: FixedClock) -> None:
    # Given an ingest process holding node id 0
    NodeLease(engine, clock, TERMS, holder_info="ingest").acquire()

    # When a timer leases a number
    number = timer_lease(engine, clock, "p.timer").acquire()

    # Then it gets 0 too, in its own rows, and ingest's row is untouched
    assert number == 0
    with engine.begin() as conn:
        assert conn.execute(select(node_leases.c.holder_info)).scalars().all() == ["ingest"]
        rows = conn.execute(select(service_leases.c.service, service_leases.c.node_id, service_leases.c.claim_key))
        assert [tuple(row) for row in rows] == [("timer", 0, "p.timer")]


def test_two_timers_get_the_lowest_free_numbers(engine: Engine, clock: FixedClock) -> None:
    # Given one timer holding 0
    assert timer_lease(engine, clock, "host:100").acquire() == 0

    # When a second one, under another claim key, leases a number
    number = timer_lease(engine, clock, "host:200").acquire()

    # Then it gets 1
    assert number == 1


def test_an_explicit_number_held_by_a_live_timer_is_refused_naming_the_holder(
    engine: Engine, clock: FixedClock
) -> None:
    # Given a live timer holding 3
    timer_lease(engine, clock, "host:100", name="host-a:100").acquire(3)

    # When another timer (another claim key) asks for 3 explicitly
    # Then it is refused with the holder's name, and told how to get a free one
    with pytest.raises(NodeIdTaken, match=r"node id 3 .*host-a:100.*every timer process needs its own"):
        timer_lease(engine, clock, "host:200").acquire(3)


def test_a_restart_under_the_same_claim_key_takes_its_number_back_at_once(engine: Engine, clock: FixedClock) -> None:
    # Given a timer holding 0 and another holding 1, and the second killed: its lease has 30 s left
    timer_lease(engine, clock, "p.timer").acquire()
    killed = timer_lease(engine, clock, "p.timer-2")
    assert killed.acquire() == 1
    clock.advance(1)

    # When it is restarted under the same claim key (the supervisor's child name), one second later
    restarted = timer_lease(engine, clock, "p.timer-2")
    number = restarted.acquire()

    # Then it holds 1 again, so its transactional id fences the killed incarnation
    assert number == 1
    # And the killed incarnation, were it only paused, learns at its next renewal that it lost the number
    with pytest.raises(NodeLeaseLost):
        killed.renew()
    restarted.renew()


def test_an_explicit_number_is_taken_back_by_a_restart_under_the_same_claim_key(
    engine: Engine, clock: FixedClock
) -> None:
    # Given a timer asked for 5 (CHRONOHOOK_NODE_ID=5), killed while its lease is live
    timer_lease(engine, clock, "p.timer").acquire(5)

    # When it restarts with the same settings
    # Then 5 is granted at once rather than refused for 30 s
    assert timer_lease(engine, clock, "p.timer").acquire(5) == 5


def test_a_restart_keeps_its_number_though_a_lower_one_is_free(engine: Engine, clock: FixedClock) -> None:
    # Given timers a (0) and b (1); a stopped cleanly (0 is free), b was killed
    a = timer_lease(engine, clock, "a")
    a.acquire()
    timer_lease(engine, clock, "b").acquire()
    a.close(0)
    clock.advance(60)  # and b's lease has long expired

    # When b restarts
    number = timer_lease(engine, clock, "b").acquire()

    # Then it takes 1, its old number (its transactional id is stable), not the lowest free
    assert number == 1


def test_a_timer_with_another_claim_key_waits_out_a_dead_holders_lease(engine: Engine, clock: FixedClock) -> None:
    # Given a timer on 0 killed (a process whose claim key is host:pid, and the restart has another pid)
    timer_lease(engine, clock, "host:100").acquire()

    # When a new process leases while the dead one's lease is live, then again once it has expired
    during = timer_lease(engine, clock, "host:101").acquire()
    clock.advance(31)
    after = timer_lease(engine, clock, "host:102").acquire()

    # Then it gets the next free number meanwhile, and the lowest free one, 0, after expiry
    assert (during, after) == (1, 0)


def test_ingest_leases_take_no_claim_key(engine: Engine, clock: FixedClock) -> None:
    # Given ingest's lease space, where a successor must wait out the lease before minting
    # When a claim key is given for it
    # Then it is refused: a restart taking a live node id over could mint ids its predecessor minted
    with pytest.raises(ValueError, match="claim key"):
        NodeLease(engine, clock, TERMS, claim_key="p.ingest-1")


def test_an_older_database_gains_the_timer_lease_table_and_keeps_ingest_leases(clock: FixedClock) -> None:
    # Given a database made before the timer leased (no service_leases), with an ingest lease in it
    engine = make_engine("sqlite://")
    try:
        create_schema(engine)
        NodeLease(engine, clock, TERMS, holder_info="ingest").acquire()
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE service_leases"))
            conn.execute(text("DROP TABLE alembic_version"))  # it predates migrations too (decision 0039)

        # When a process of this version creates its schema
        create_schema(engine)

        # Then the table is there, and ingest's lease is untouched
        assert inspect(engine).has_table("service_leases")
        with engine.begin() as conn:
            assert conn.execute(select(node_leases.c.holder_info)).scalars().all() == ["ingest"]
    finally:
        engine.dispose()


def identity(
    engine: Engine, clock: FixedClock, lost: list[int] | None = None, key: str | None = None, **values: object
) -> TimerIdentity:
    settings = Settings.model_validate({"topic_prefix": "p", **values})
    sink = lost if lost is not None else []
    return lease_identity(settings, clock, on_lost=lambda: sink.append(1), engine=engine, terms=TERMS, key=key)


def test_ids_are_derived_from_the_leased_number(engine: Engine, clock: FixedClock) -> None:
    # Given two timers started with no node id and no group instance id (docker compose --scale timer=2)
    # (two processes: claim keys host:pid of each)
    first = identity(engine, clock, key="host:100")
    second = identity(engine, clock, key="host:200")
    try:
        # Then each has its own transactional id and group instance id
        assert (first.transactional_id, first.settings.group_instance_id) == ("p.timer.0", "p.timer-0")
        assert (second.transactional_id, second.settings.group_instance_id) == ("p.timer.1", "p.timer-1")
    finally:
        first.close()
        second.close()


def test_the_supervisors_group_instance_id_is_kept_and_is_the_claim_key(engine: Engine, clock: FixedClock) -> None:
    # Given a supervised timer (group instance id p.timer) leasing 0, then killed
    identity(engine, clock, group_instance_id="p.timer").keeper.stop()

    # When the supervisor restarts it at once
    restarted = identity(engine, clock, group_instance_id="p.timer")
    try:
        # Then it keeps the supervisor's group instance id, and its number back: the same transactional id
        assert restarted.settings.group_instance_id == "p.timer"
        assert restarted.transactional_id == "p.timer.0"
    finally:
        restarted.close()


def test_an_explicit_node_id_is_asked_for(engine: Engine, clock: FixedClock) -> None:
    # Given CHRONOHOOK_NODE_ID=7
    # When a timer starts
    held = identity(engine, clock, key="host:100", node_id=7)
    try:
        # Then it holds 7, and a second timer told 7 is refused
        assert held.transactional_id == "p.timer.7"
        with pytest.raises(NodeIdTaken):
            identity(engine, clock, key="host:200", node_id=7)
    finally:
        held.close()


def test_a_lost_number_tells_the_timer_to_stop(engine: Engine, clock: FixedClock) -> None:
    # Given a timer holding its number, whose group instance id another process also starts under
    lost: list[int] = []
    first = identity(engine, clock, lost, group_instance_id="p.timer")
    second = identity(engine, clock, group_instance_id="p.timer")
    try:
        # When the first renews
        first.keeper.renew_once()

        # Then it is told it lost the number (the timer sets its stop event), and stops renewing
        assert lost == [1]
    finally:
        first.close()
        second.close()


def test_a_clean_stop_frees_the_number_for_any_timer_at_once(engine: Engine, clock: FixedClock) -> None:
    # Given a timer holding 0 that stops cleanly
    identity(engine, clock).close()

    # When another timer, under another claim key, starts a millisecond later
    clock.advance(0.001)
    other = identity(engine, clock, group_instance_id="p.other")
    try:
        # Then it gets 0
        assert other.transactional_id == "p.timer.0"
    finally:
        other.close()


def test_the_timer_space_holds_on_postgresql(postgres_url: str, clock: FixedClock) -> None:
    # Given a PostgreSQL read model with an ingest lease on node id 0, and a timer holding 0 in its own space
    engine = make_engine(postgres_url)
    try:
        create_schema(engine)
        with engine.begin() as conn:
            conn.execute(delete(node_leases))
            conn.execute(delete(service_leases))
        NodeLease(engine, clock, TERMS, holder_info="ingest").acquire()
        killed = timer_lease(engine, clock, "p.timer")
        assert killed.acquire() == 0

        # When another timer starts, then the first restarts under its claim key while its lease is live
        other = timer_lease(engine, clock, "p.timer-2").acquire()
        restarted = timer_lease(engine, clock, "p.timer").acquire()

        # Then the other gets 1, the restart 0 again, and the killed incarnation has lost it
        assert (other, restarted) == (1, 0)
        with pytest.raises(NodeLeaseLost):
            killed.renew()
    finally:
        engine.dispose()
