"""One contract for the timer's entry stores: in memory and in SQLite files the same reads answer the same."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas.changelog import Entry, PurgeEntry, TimerEntry
from schemas.events import HttpRequestSpec, RetryPolicy
from services.timer.store import (
    Checkpoint,
    EntryStore,
    MemoryEntryStore,
    Row,
    SqliteEntryStore,
    StoreError,
    Waking,
)

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)


def job(
    job_id: str, due_in_s: float | None, queue: str | None = None, paused: bool = False, tenant: str = "t1"
) -> TimerEntry:
    return TimerEntry(
        job_id=job_id,
        tenant=tenant,
        api="recuro" if queue else "quedup",
        request=HttpRequestSpec(method="POST", url="http://127.0.0.2:9/hook", body="x" * 100),
        retry=RetryPolicy(),
        next_due=None if due_in_s is None else T0 + timedelta(seconds=due_in_s),
        queue=queue,
        paused=paused,
    )


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EntryStore]:
    if request.param == "memory":
        yield MemoryEntryStore()
        return
    sqlite = SqliteEntryStore(tmp_path / "timer")
    try:
        yield sqlite
    finally:
        sqlite.close_all()


def test_an_entry_written_reads_back_as_it_was(store: EntryStore) -> None:
    # Given an open partition and a job due in an hour
    store.open(0)
    entry = job("job_a", 3600)
    # When it is written
    store.write(0, [("job_a", Row.of(entry))])
    # Then a point read gives the same entry, with its wake time, and another key reads nothing
    row = store.get(0, "job_a")
    assert row is not None and row.entry() == entry
    assert row.wake_ms == T0_MS + 3_600_000
    assert store.get(0, "job_b") is None
    assert store.count(0) == 1


def test_a_tombstone_removes_the_entry(store: EntryStore) -> None:
    # Given a stored entry
    store.open(0)
    store.write(0, [("job_a", Row.of(job("job_a", 10)))])
    # When a tombstone for it is written, along with a new entry
    store.write(0, [("job_a", None), ("job_b", Row.of(job("job_b", 20)))])
    # Then only the new one is there, and it wakes in range reads alone
    assert store.get(0, "job_a") is None
    assert [w.key for w in store.waking(0, None, T0_MS + 60_000)] == ["job_b"]


def test_in_one_write_the_last_change_of_a_key_wins(store: EntryStore) -> None:
    # Given an open partition
    store.open(0)
    # When one write (a restore batch) holds a job's put then its tombstone, and another job's tombstone then put
    store.write(
        0,
        [
            ("job_a", Row.of(job("job_a", 10))),
            ("job_b", None),
            ("job_a", None),
            ("job_b", Row.of(job("job_b", 20))),
        ],
    )
    # Then the deleted job stays deleted and the re-created one is there, as the changelog ends
    assert store.get(0, "job_a") is None
    assert [w.key for w in store.waking(0, None, T0_MS + 60_000)] == ["job_b"]


def test_partitions_are_apart(store: EntryStore) -> None:
    # Given the same key written in two partitions
    store.open(0)
    store.open(1)
    store.write(0, [("k", Row.of(job("k", 10)))])
    store.write(1, [("k", Row.of(job("k", 99)))])
    # Then each partition reads its own
    row0, row1 = store.get(0, "k"), store.get(1, "k")
    assert row0 is not None and row1 is not None
    assert (row0.wake_ms, row1.wake_ms) == (T0_MS + 10_000, T0_MS + 99_000)
    # And clearing one leaves the other
    store.clear(0)
    assert store.count(0) == 0 and store.count(1) == 1


def test_waking_answers_a_half_open_range_in_wake_order(store: EntryStore) -> None:
    # Given entries overdue, near, at the range's edges, far, and not waking at all (in flight, paused)
    store.open(2)
    entries: dict[str, Entry] = {
        "overdue": job("overdue", -30),
        "edge_low": job("edge_low", 10),
        "near": job("near", 5),
        "edge_high": job("edge_high", 60),
        "far": job("far", 86_400 * 365),
        "in_flight": job("in_flight", None),
        "paused": job("paused", 1, paused=True),
        "purge": PurgeEntry(job_id="x", tenant="t1", dead_lettered_at=T0, purge_at=T0 + timedelta(seconds=30)),
    }
    store.write(2, [(key, Row.of(entry)) for key, entry in entries.items()])
    # When the window from the beginning to +10 s is read, then (10 s, 60 s]
    first = store.waking(2, None, T0_MS + 10_000)
    then = store.waking(2, T0_MS + 10_000, T0_MS + 60_000)
    # Then each entry that wakes comes once, in wake order; the far one, the in-flight one and the paused one never
    assert [w.key for w in first] == ["overdue", "near", "edge_low"]
    assert then == [Waking("purge", T0_MS + 30_000, None, "t1"), Waking("edge_high", T0_MS + 60_000, None, "t1")]
    assert [w.key for w in store.waking(2, T0_MS + 60_000, T0_MS + 86_400_000)] == []


def test_a_recuro_queue_job_carries_its_queue_and_is_found_by_it(store: EntryStore) -> None:
    # Given two jobs of queue "emails", one of "sms", and a QuedUp job
    store.open(0)
    store.write(
        0,
        [
            ("e1", Row.of(job("e1", 50, queue="emails"))),
            ("e2", Row.of(job("e2", -5, queue="emails"))),
            ("s1", Row.of(job("s1", 5, queue="sms"))),
            ("q1", Row.of(job("q1", 5))),
        ],
    )
    # When the queue's entries waking within a minute are asked for
    found = store.in_queue(0, "t1", "emails", T0_MS + 60_000)
    # Then both of its jobs come, earliest first, tagged with their queue; range reads carry the tag too
    assert [(w.key, w.queue) for w in found] == [("e2", ("t1", "emails")), ("e1", ("t1", "emails"))]
    assert {w.key: w.queue for w in store.waking(0, None, T0_MS + 10_000)} == {
        "e2": ("t1", "emails"),
        "s1": ("t1", "sms"),
        "q1": None,
    }
    assert store.in_queue(0, "t2", "emails", T0_MS + 60_000) == []
    # And a shorter horizon leaves the later job out
    assert [w.key for w in store.in_queue(0, "t1", "emails", T0_MS)] == ["e2"]


def test_the_checkpoint_moves_with_its_changes_and_clear_forgets_it(store: EntryStore) -> None:
    # Given a fresh partition: no checkpoint
    store.open(0)
    assert store.checkpoint(0) is None
    # When changes are written with a checkpoint, then more without one
    store.write(0, [("a", Row.of(job("a", 1)))], Checkpoint(17, T0_MS))
    store.write(0, [("b", Row.of(job("b", 2)))])
    # Then the checkpoint is the last one given
    assert store.checkpoint(0) == Checkpoint(17, T0_MS)
    store.write(0, [], Checkpoint(18, T0_MS + 5))
    assert store.checkpoint(0) == Checkpoint(18, T0_MS + 5)
    # And clearing forgets entries and checkpoint alike
    store.clear(0)
    assert store.checkpoint(0) is None and store.count(0) == 0


def test_a_closed_partition_keeps_its_entries_for_the_next_open(store: EntryStore) -> None:
    # Given a partition with an entry and a checkpoint, closed
    store.open(1)
    store.write(1, [("a", Row.of(job("a", 1)))], Checkpoint(5, T0_MS))
    store.close(1)
    # Then reading it closed is an error
    with pytest.raises(StoreError):
        store.get(1, "a")
    # When it is opened again
    store.open(1)
    # Then what it held is there
    assert store.get(1, "a") is not None and store.checkpoint(1) == Checkpoint(5, T0_MS)


def test_a_sqlite_file_survives_its_process_and_a_torn_file_starts_afresh(tmp_path: Path) -> None:
    # Given a partition file written by one store object, then dropped without a close (as by kill -9)
    first = SqliteEntryStore(tmp_path)
    first.open(0)
    first.write(0, [("a", Row.of(job("a", 1)))], Checkpoint(3, T0_MS))
    # When another store opens the same directory
    second = SqliteEntryStore(tmp_path)
    second.open(0)
    # Then it reads the entry and the checkpoint
    assert second.get(0, "a") is not None and second.checkpoint(0) == Checkpoint(3, T0_MS)
    first.close_all()
    second.close_all()
    # Given a partition file that is not a database
    (tmp_path / "7.sqlite").write_bytes(b"not a database at all" * 100)
    third = SqliteEntryStore(tmp_path)
    # When it is opened
    third.open(7)
    # Then it opens empty, without a checkpoint (the changelog rebuilds it)
    assert third.count(7) == 0 and third.checkpoint(7) is None
    third.close_all()


def test_every_entry_carries_its_tenant_into_the_wake_index(store: EntryStore) -> None:
    # Given entries of two tenants, one of them a Recuro queue's job
    store.open(0)
    entries = {
        "a1": job("a1", 1, tenant="acme"),
        "b1": job("b1", 2, tenant="beta"),
        "q1": job("q1", 3, "mail", False, "beta"),
    }
    store.write(0, [(key, Row.of(entry)) for key, entry in entries.items()])
    # When the wake index, the queue index and a point read answer
    waking = store.waking(0, None, T0_MS + 10_000)
    queued = store.in_queue(0, "beta", "mail", T0_MS + 10_000)
    row = store.get(0, "a1")
    # Then each names the entry's tenant (the near window arms it under that tenant)
    assert [(w.key, w.tenant) for w in waking] == [("a1", "acme"), ("b1", "beta"), ("q1", "beta")]
    assert [(w.key, w.tenant, w.queue) for w in queued] == [("q1", "beta", ("beta", "mail"))]
    assert row is not None and row.tenant == "acme"


def test_a_file_of_the_layout_without_tenants_is_rebuilt_from_the_changelog(tmp_path: Path) -> None:
    # Given a partition file of layout 1 (no tenant column), holding an entry and a checkpoint
    conn = sqlite3.connect(tmp_path / "0.sqlite")
    conn.execute(
        "CREATE TABLE entries (key TEXT PRIMARY KEY, wake_ms INTEGER, q_tenant TEXT, q_name TEXT,"
        " version INTEGER NOT NULL, value BLOB NOT NULL)"
    )
    conn.execute(
        "CREATE TABLE checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), next_offset INTEGER NOT NULL,"
        " written_at_ms INTEGER NOT NULL)"
    )
    conn.execute("INSERT INTO entries VALUES ('a', ?, NULL, NULL, 1, ?)", (T0_MS, Row.of(job("a", 0)).value))
    conn.execute("INSERT INTO checkpoint VALUES (1, 42, ?)", (T0_MS,))
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    store = SqliteEntryStore(tmp_path)
    try:
        # When this code opens it
        store.open(0)
        # Then it opens empty and without a checkpoint: the restore rebuilds it from the changelog, tenants and all
        assert store.count(0) == 0 and store.checkpoint(0) is None
        store.write(0, [("a", Row.of(job("a", 0, tenant="acme")))], Checkpoint(42, T0_MS))
        assert [w.tenant for w in store.waking(0, None, T0_MS)] == ["acme"]
    finally:
        store.close_all()
