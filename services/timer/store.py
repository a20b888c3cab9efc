"""Where the timer's entries live between the changelog and RAM: a store per owned partition (decision 0026).

The changelog is the source of truth; a store is a cache of one partition of it, complete through its checkpoint
(the changelog offset it reflects up to, exclusive, and when that was known). The timer writes a change into it
only after the Kafka transaction that holds the change has committed, so a store never holds what the changelog
does not. What it answers: one entry by key (a point read), the entries waking in a time range (the near window's
refill), a Recuro queue's entries (a resumed queue's held jobs).

``SqliteEntryStore`` keeps one SQLite file per partition; ``MemoryEntryStore`` keeps dicts, for tests and tools.
Both pass one contract suite (tests/contracts/test_entry_store.py).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from chronohook.clock import to_ms
from schemas import changelog_codec
from schemas.changelog import Entry, TimerEntry

log = logging.getLogger("chronohook.timer.store")

# The file's own layout; a file of another layout is rebuilt from the changelog, not migrated. 2: every entry's
# tenant in its own column (the timer's fair pick across tenants, decision 0028); a file of layout 1 is rebuilt.
FILE_FORMAT = 2
# SQLite's page cache per partition file (KiB): the store's RAM, whatever the number of entries on disk.
CACHE_KIB = 8_192


class StoreError(Exception):
    """A partition's local file cannot be used (it is then rebuilt from the changelog)."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The store reflects the changelog partition's records below ``offset``, as known at ``written_at_ms``."""

    offset: int
    written_at_ms: int


@dataclass(frozen=True, slots=True)
class Row:
    """An entry as stored: its changelog value (current codec version), when it wakes, its Recuro queue, its
    tenant."""

    value: bytes
    wake_ms: int | None
    # (tenant, queue) of a Recuro queue's job: the timer holds it while that queue is paused.
    queue: tuple[str, str] | None
    # Whose entry it is: the near window arms it under its tenant, for the fair pick (services/timer/buckets.py).
    tenant: str = ""

    @classmethod
    def of(cls, entry: Entry, value: bytes | None = None) -> Row:
        """``value``: the entry's current-version bytes when already at hand (as consumed, or as produced)."""
        wake = entry.wake_at()
        queue = None
        if isinstance(entry, TimerEntry) and entry.queue is not None and entry.api == "recuro":
            queue = (entry.tenant, entry.queue)
        return cls(
            value if value is not None else changelog_codec.encode(entry),
            None if wake is None else to_ms(wake),
            queue,
            entry.tenant,
        )

    def entry(self) -> Entry:
        return changelog_codec.decode(self.value)


@dataclass(frozen=True, slots=True)
class Waking:
    key: str
    wake_ms: int
    queue: tuple[str, str] | None
    tenant: str = ""


# One change: the key and its new row, None for a tombstone.
Change = tuple[str, Row | None]


class EntryStore(Protocol):
    """The entries of the partitions this timer owns, one partition at a time."""

    def open(self, partition: int) -> None:
        """Make the partition's store available (created empty when there is none)."""

    def close(self, partition: int) -> None:
        """Release it; what it holds stays for a later ``open``."""

    def clear(self, partition: int) -> None:
        """Forget every entry and the checkpoint (a rebuild from the changelog follows)."""

    def get(self, partition: int, key: str) -> Row | None: ...

    def write(self, partition: int, changes: Iterable[Change], checkpoint: Checkpoint | None = None) -> None:
        """Apply ``changes`` and, when given, move the checkpoint: all of it or none of it."""

    def checkpoint(self, partition: int) -> Checkpoint | None: ...

    def waking(
        self,
        partition: int,
        after_ms: int | None,
        until_ms: int,
        *,
        after_key: str | None = None,
        limit: int | None = None,
    ) -> list[Waking]:
        """Entries waking in (after_ms, until_ms] (from the beginning of time when ``after_ms`` is None), in (wake,
        key) order; with ``after_key``, those after (after_ms, after_key) in that order; at most ``limit`` of them
        (a page: the next one starts after the last one's wake and key)."""

    def in_queue(self, partition: int, tenant: str, queue: str, until_ms: int) -> list[Waking]:
        """A Recuro queue's entries waking at or before ``until_ms`` (overdue ones included)."""

    def count(self, partition: int) -> int: ...


class MemoryEntryStore:
    """Dicts per partition. Range reads scan: for tests and small tools, not for millions of far entries."""

    def __init__(self) -> None:
        self._rows: dict[int, dict[str, Row]] = {}
        self._checkpoints: dict[int, Checkpoint] = {}
        self._open: set[int] = set()

    def open(self, partition: int) -> None:
        self._rows.setdefault(partition, {})
        self._open.add(partition)

    def close(self, partition: int) -> None:
        self._open.discard(partition)

    def clear(self, partition: int) -> None:
        self._of(partition).clear()
        self._checkpoints.pop(partition, None)

    def get(self, partition: int, key: str) -> Row | None:
        return self._of(partition).get(key)

    def write(self, partition: int, changes: Iterable[Change], checkpoint: Checkpoint | None = None) -> None:
        rows = self._of(partition)
        for key, row in changes:
            if row is None:
                rows.pop(key, None)
            else:
                rows[key] = row
        if checkpoint is not None:
            self._checkpoints[partition] = checkpoint

    def checkpoint(self, partition: int) -> Checkpoint | None:
        self._of(partition)
        return self._checkpoints.get(partition)

    def waking(
        self,
        partition: int,
        after_ms: int | None,
        until_ms: int,
        *,
        after_key: str | None = None,
        limit: int | None = None,
    ) -> list[Waking]:
        low = (after_ms if after_ms is not None else -(2**63), after_key if after_key is not None else "\U0010ffff")
        found = [
            Waking(key, row.wake_ms, row.queue, row.tenant)
            for key, row in self._of(partition).items()
            if row.wake_ms is not None and low < (row.wake_ms, key) and row.wake_ms <= until_ms
        ]
        return sorted(found, key=lambda w: (w.wake_ms, w.key))[:limit]

    def in_queue(self, partition: int, tenant: str, queue: str, until_ms: int) -> list[Waking]:
        return sorted(
            (
                Waking(key, row.wake_ms, row.queue, row.tenant)
                for key, row in self._of(partition).items()
                if row.queue == (tenant, queue) and row.wake_ms is not None and row.wake_ms <= until_ms
            ),
            key=lambda w: (w.wake_ms, w.key),
        )

    def count(self, partition: int) -> int:
        return len(self._of(partition))

    def _of(self, partition: int) -> dict[str, Row]:
        if partition not in self._open:
            raise StoreError(f"partition {partition} is not open")
        return self._rows[partition]


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, wake_ms INTEGER, q_tenant TEXT, q_name TEXT,"
    " version INTEGER NOT NULL, value BLOB NOT NULL, tenant TEXT NOT NULL DEFAULT '')",
    # (wake_ms, key): the near window is read in pages that start after a (wake, key) (decision 0028).
    "DROP INDEX IF EXISTS entries_wake",
    "CREATE INDEX IF NOT EXISTS entries_wake_key ON entries (wake_ms, key) WHERE wake_ms IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS entries_queue ON entries (q_tenant, q_name, wake_ms) WHERE q_tenant IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), next_offset INTEGER NOT NULL,"
    " written_at_ms INTEGER NOT NULL)",
)


class SqliteEntryStore:
    """``<root>/<partition>.sqlite`` per partition: WAL, ``synchronous=OFF`` (a kill -9 loses nothing the OS has;
    a machine crash may lose the file, which the changelog rebuilds), a bounded page cache."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._conns: dict[int, sqlite3.Connection] = {}

    def path(self, partition: int) -> Path:
        return self.root / f"{partition}.sqlite"

    def open(self, partition: int) -> None:
        if partition in self._conns:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._conns[partition] = self._connect(partition)
        except sqlite3.DatabaseError as exc:
            # A torn or foreign file: it is only a cache, so it goes and the changelog rebuilds it.
            log.warning("partition %d's local file is unusable (%s): starting it afresh", partition, exc)
            self._remove_files(partition)
            self._conns[partition] = self._connect(partition)

    def _connect(self, partition: int) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path(partition), isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            conn.execute("PRAGMA temp_store=MEMORY")
            (layout,) = conn.execute("PRAGMA user_version").fetchone()
            if layout not in (0, FILE_FORMAT):
                conn.close()
                raise sqlite3.DatabaseError(f"file format {layout}, this code writes {FILE_FORMAT}")
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={FILE_FORMAT}")
            # Reading a page proves the file is a database, before it is trusted.
            conn.execute("SELECT count(*) FROM checkpoint").fetchone()
        except sqlite3.DatabaseError:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
            raise
        return conn

    def _remove_files(self, partition: int) -> None:
        base = self.path(partition)
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{base}{suffix}").unlink()

    def close(self, partition: int) -> None:
        conn = self._conns.pop(partition, None)
        if conn is not None:
            conn.close()

    def close_all(self) -> None:
        for partition in list(self._conns):
            self.close(partition)

    def clear(self, partition: int) -> None:
        with self._transaction(partition) as conn:
            conn.execute("DELETE FROM entries")
            conn.execute("DELETE FROM checkpoint")

    def get(self, partition: int, key: str) -> Row | None:
        found = (
            self._conn(partition)
            .execute("SELECT value, wake_ms, q_tenant, q_name, version, tenant FROM entries WHERE key = ?", (key,))
            .fetchone()
        )
        if found is None:
            return None
        value, wake_ms, q_tenant, name, version, tenant = found
        if version != changelog_codec.CURRENT_VERSION:
            value = changelog_codec.encode(changelog_codec.decode(value, version))
        return Row(value, wake_ms, None if q_tenant is None else (q_tenant, name), tenant)

    def write(self, partition: int, changes: Iterable[Change], checkpoint: Checkpoint | None = None) -> None:
        upserts: list[tuple[str, int | None, str | None, str | None, int, bytes, str]] = []
        deletes: list[tuple[str]] = []
        # The last change per key wins: a restore batch may hold a job's put and then its tombstone.
        last: dict[str, Row | None] = {}
        for key, row in changes:
            last.pop(key, None)  # re-inserted, so the order of keys is the order of their last change
            last[key] = row
        for key, row in last.items():
            if row is None:
                deletes.append((key,))
            else:
                tenant, name = row.queue if row.queue is not None else (None, None)
                upserts.append((key, row.wake_ms, tenant, name, changelog_codec.CURRENT_VERSION, row.value, row.tenant))
        with self._transaction(partition) as conn:
            if deletes:
                conn.executemany("DELETE FROM entries WHERE key = ?", deletes)
            if upserts:
                conn.executemany(
                    "INSERT OR REPLACE INTO entries (key, wake_ms, q_tenant, q_name, version, value, tenant)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    upserts,
                )
            if checkpoint is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO checkpoint VALUES (1, ?, ?)", (checkpoint.offset, checkpoint.written_at_ms)
                )

    def checkpoint(self, partition: int) -> Checkpoint | None:
        found = self._conn(partition).execute("SELECT next_offset, written_at_ms FROM checkpoint").fetchone()
        return None if found is None else Checkpoint(found[0], found[1])

    def waking(
        self,
        partition: int,
        after_ms: int | None,
        until_ms: int,
        *,
        after_key: str | None = None,
        limit: int | None = None,
    ) -> list[Waking]:
        # The (wake_ms, key) index serves the order and the page's start (a row value compared as a whole).
        args: list[int | str] = [until_ms]
        where = "wake_ms <= ?"
        if after_ms is not None and after_key is not None:
            where, args = "(wake_ms, key) > (?, ?) AND wake_ms <= ?", [after_ms, after_key, until_ms]
        elif after_ms is not None:
            where, args = "wake_ms > ? AND wake_ms <= ?", [after_ms, until_ms]
        rows = self._conn(partition).execute(
            f"SELECT key, wake_ms, q_tenant, q_name, tenant FROM entries WHERE {where} ORDER BY wake_ms, key LIMIT ?",
            (*args, -1 if limit is None else limit),
        )
        return [Waking(k, w, None if t is None else (t, n), tenant) for k, w, t, n, tenant in rows]

    def in_queue(self, partition: int, tenant: str, queue: str, until_ms: int) -> list[Waking]:
        rows = self._conn(partition).execute(
            "SELECT key, wake_ms, tenant FROM entries WHERE q_tenant = ? AND q_name = ? AND wake_ms <= ?"
            " ORDER BY wake_ms",
            (tenant, queue, until_ms),
        )
        return [Waking(k, w, (tenant, queue), t) for k, w, t in rows]

    def count(self, partition: int) -> int:
        (n,) = self._conn(partition).execute("SELECT count(*) FROM entries").fetchone()
        return int(n)

    def _conn(self, partition: int) -> sqlite3.Connection:
        conn = self._conns.get(partition)
        if conn is None:
            raise StoreError(f"partition {partition} is not open")
        return conn

    @contextlib.contextmanager
    def _transaction(self, partition: int) -> Iterator[sqlite3.Connection]:
        conn = self._conn(partition)
        conn.execute("BEGIN")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
