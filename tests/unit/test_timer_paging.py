"""Overdue entries after an outage, and a mass of entries waking at one instant, are read from the stores a page at
a time: RAM never holds them all; each page starts after the last (wake, key) of the one before (decision 0028).
And a cancelled attempt leaves the timer's runs in flight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chronohook.clock import FixedClock, to_ms
from schemas.changelog import TimerEntry
from schemas.events import HttpRequestSpec, JobDue, JobRunCancelled, RetryPolicy
from services.timer.domain import decide, fire
from services.timer.store import EntryStore, MemoryEntryStore, Row, SqliteEntryStore
from services.timer.window import Paging
from tests.unit.test_timer_firing import created, events_of, timer

T0 = datetime(2026, 4, 10, 14, 5, 30, tzinfo=UTC)


def entry(job_id: str, due: datetime, **more: object) -> TimerEntry:
    return TimerEntry.model_validate(
        dict(
            job_id=job_id, tenant="t1", api="quedup", request=HttpRequestSpec(method="GET", url="http://127.0.0.2/"),
            retry=RetryPolicy(), next_due=due,
        ) | more
    )  # fmt: skip


def stores(tmp_path: Path) -> list[EntryStore]:
    return [MemoryEntryStore(), SqliteEntryStore(tmp_path / "sqlite")]


@pytest.mark.parametrize("kind", [0, 1], ids=["memory", "sqlite"])
def test_waking_is_read_in_pages_after_the_last_wake_and_key(tmp_path: Path, kind: int) -> None:
    # Given 25 entries: 20 waking at one instant, 5 a second later, and one far beyond the window
    store = stores(tmp_path)[kind]
    store.open(0)
    rows = [(f"k{i:02}", Row.of(entry(f"k{i:02}", T0))) for i in range(20)]
    rows += [(f"m{i}", Row.of(entry(f"m{i}", T0 + timedelta(seconds=1)))) for i in range(5)]
    rows += [("far", Row.of(entry("far", T0 + timedelta(hours=1))))]
    store.write(0, rows)
    until = to_ms(T0 + timedelta(seconds=10))

    # When they are read 8 at a time, each page after the last (wake, key) read
    pages: list[list[str]] = []
    after: tuple[int, str] | None = None
    while True:
        page = store.waking(0, after and after[0], until, after_key=after and after[1], limit=8)
        if not page:
            break
        pages.append([w.key for w in page])
        after = (page[-1].wake_ms, page[-1].key)

    # Then every entry in the window came once, in (wake, key) order, at most 8 at a time; the far one did not
    assert [len(p) for p in pages] == [8, 8, 8, 1]
    flat = [k for p in pages for k in p]
    assert flat == [f"k{i:02}" for i in range(20)] + [f"m{i}" for i in range(5)]
    # And without a key, "after" still means after that instant
    assert [w.key for w in store.waking(0, to_ms(T0), until, limit=3)] == ["m0", "m1", "m2"]


def test_paging_marks_a_partition_behind_until_a_page_comes_back_short() -> None:
    # Given a store with 5 entries waking at one instant, and pages of 2
    store = MemoryEntryStore()
    store.open(0)
    store.write(0, [(f"k{i}", Row.of(entry(f"k{i}", T0))) for i in range(5)])
    paging = Paging(page=2, max_armed=100)
    until = to_ms(T0) + 1000
    seen: list[str] = []
    # When pages are read until one is short
    while True:
        page = paging.read(store, 0, None, until)
        seen += [w.key for w in page]
        # Then while behind, only what was read is covered
        if 0 in paging.behind:
            assert paging.covers(0, page[-1].key, to_ms(T0)) and not paging.covers(0, "k9", to_ms(T0))
        if len(page) < 2:
            break
    assert seen == [f"k{i}" for i in range(5)] and paging.behind == {}


def test_a_timer_restored_after_an_outage_reads_its_overdue_entries_a_page_at_a_time(tmp_path: Path) -> None:
    # Given a store holding 120 entries overdue by an hour (the timer was down), and a cap of 10 a step (pages of 20)
    clock = FixedClock(T0)
    service, _, producer = timer(tmp_path, clock, timer_fire_max_entries=10)
    store = service.store
    store.write(0, [(f"j{i:03}", Row.of(entry(f"j{i:03}", T0 - timedelta(hours=1)))) for i in range(120)])
    service.owned.discard(0)
    service.paging = Paging(page=20, max_armed=80)  # (2 and 8 caps: the defaults' proportions, small)

    # When it takes the partition: its restore arms the near window as _restore does once the store is caught up
    # with the changelog (that part needs a broker: tests/integration)
    service.paging.forget({0})
    service._arm_waking(0, service.paging.read(store, 0, None, service.loaded_until_ms))
    service.owned.add(0)
    # Then only a page is armed
    assert len(service.buckets) == 20 and 0 in service.paging.behind

    # When it steps until all are fired, the clock still
    most_armed = 0
    for _ in range(40):
        service.step()
        most_armed = max(most_armed, len(service.buckets))
    # Then every entry fired exactly once, in due order (ties by id), never more than max_armed armed at once
    fired = [e.job_id for t in producer.committed for e in events_of(t) if isinstance(e, JobDue)]
    assert fired == [f"j{i:03}" for i in range(120)]
    assert most_armed <= service.paging.max_armed
    assert service.paging.behind == {}


def test_a_mass_created_at_one_instant_beyond_max_armed_waits_in_the_store(tmp_path: Path) -> None:
    # Given a timer that arms at most 30 entries (pages of 10, a cap of 5), and 100 jobs created due in 5 s
    clock = FixedClock(T0)
    service, consumer, producer = timer(tmp_path, clock, timer_fire_max_entries=5)
    service.paging = Paging(page=10, max_armed=30)
    consumer.waiting = [created(f"j{i:03}", T0 + timedelta(seconds=5)) for i in range(100)]
    service._last_commit -= 1
    service.step()
    # Then at most max_armed of them are armed; the rest wait in the store
    assert len(service.buckets) <= 30 and service.store.count(0) == 100

    # When their instant comes and the timer steps
    clock.advance(5)
    for _ in range(40):
        service.step()
    # Then each fired exactly once
    fired = [e.job_id for t in producer.committed for e in events_of(t) if isinstance(e, JobDue)]
    assert sorted(fired) == [f"j{i:03}" for i in range(100)] and len(fired) == 100


# -- a cancelled attempt ------------------------------------------------------------------------------------------


def cancelled(run_id: str, job_id: str = "cron") -> JobRunCancelled:
    return JobRunCancelled(
        event_id=f"evt_c_{run_id}", job_id=job_id, tenant="t1", occurred_at=T0, run_id=run_id, reason="paused"
    )


@pytest.mark.parametrize(
    ("in_flight", "cancel", "left"),
    [
        # The cancelled run leaves; the others stay.
        (("cron:1:1", "cron:2:1"), "cron:1:1", ("cron:2:1",)),
        (("cron:1:1",), "cron:1:1", ()),
        # A run not in flight (a redelivered cancellation, or settled already): nothing changes.
        (("cron:2:1",), "cron:1:1", ("cron:2:1",)),
        ((), "cron:1:1", ()),
    ],
)
def test_a_cancelled_run_leaves_in_flight(in_flight: tuple[str, ...], cancel: str, left: tuple[str, ...]) -> None:
    # Given a cron's entry with runs in flight
    cron = entry("cron", T0 + timedelta(minutes=5), schedule="*/5 * * * *", in_flight=in_flight)
    # When the executor's cancellation of one is consumed
    changes, emitted = decide(lambda _key: cron, cancelled(cancel), T0)
    # Then that run is no longer in flight, nothing else changed, nothing emitted
    after = changes.get("cron", cron)
    assert isinstance(after, TimerEntry) and after.in_flight == left and emitted == []
    assert after.model_copy(update={"in_flight": in_flight}) == cron


def test_a_one_off_whose_only_attempt_was_cancelled_is_done() -> None:
    # Given a one-off handed out (its entry kept only for its run in flight)
    once, [due] = fire(entry("once", T0), T0)
    assert isinstance(once, TimerEntry) and isinstance(due, JobDue)
    # When its cancellation is consumed, then its entry goes
    changes, _ = decide(lambda _key: once, cancelled(due.run_id, "once"), T0)
    assert changes == {"once": None}


def test_cancellations_do_not_grow_a_crons_in_flight_list() -> None:
    # Given a cron that fires every 5 minutes, and each of its attempts cancelled by the executor (paused in the
    # hand-over window, many times over)
    cron: TimerEntry = entry("cron", T0, schedule="*/5 * * * *")
    now = T0
    for _ in range(50):
        fired, [due] = fire(cron, now)
        assert isinstance(fired, TimerEntry) and isinstance(due, JobDue)
        changes, _ = decide({"cron": fired}.get, cancelled(due.run_id), now)
        after = changes["cron"]
        assert isinstance(after, TimerEntry)
        cron = after
        now += timedelta(minutes=5)
    # Then nothing stays in flight
    assert cron.in_flight == ()
