"""A canonical digest of every read model the projector folds from the log, and the rows two databases differ in.

Which tables: those the projector writes from events alone (``FOLDED``). Not the bookkeeping (``consumer_offsets``:
each consumer its own) and not what ingest or the executor write beside the log (tokens, job names, node leases,
queue slots, signing secrets, idempotency keys): those are not the log's to rebuild.

Canonical: rows in primary-key order (code-point order of the key, whatever the database's collation), each row's
values normalised (times as UTC ISO 8601 with microseconds, whichever way the backend hands them back; JSON documents
parsed and written again with sorted keys) then hashed, so a SQLite and a PostgreSQL database holding the same rows
give the same digest. Columns stamped from the projecting process's clock rather than from an event differ between
any two projections; ``EXCLUDED`` names them and ``--verify`` prints them as excluded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Connection, Table, select

from chronohook.store.tables import metadata

# The read models folded from the log, in the order they are reported (those this version's schema has).
FOLDED_NAMES = (
    "jobs",
    "job_runs",
    "queues",
    "dead_letters",
    "alerts",
    "alert_destinations",
    "job_events",
    "purged_chains",
    "deleted_queues",  # decision 0030
)
FOLDED: tuple[Table, ...] = tuple(metadata.tables[n] for n in FOLDED_NAMES if n in metadata.tables)

# (table, column) -> why it is left out of the digest.
EXCLUDED: dict[tuple[str, str], str] = {
    # The projector stamps a queue created by a push with its own clock (ReadModelStore.apply's ``now``); a
    # settings change creates it at the change's occurred_at; which of the two comes first also depends on how
    # the compacted queue-settings topic stood when it was read.
    ("queues", "created_at"): "stamped with the projector's clock when a push creates the queue",
}

MAX_SHOWN = 20  # differing rows kept per table


def _norm(value: Any, is_json: bool) -> Any:
    if value is None:
        return None
    if is_json:
        doc = json.loads(value) if isinstance(value, str | bytes) else value
        return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, datetime):
        # SQLite hands DateTime(timezone=True) back naive; every time in these tables was written in UTC.
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return aware.isoformat(timespec="microseconds")
    if isinstance(value, bool):
        return int(value)
    return value


def _columns(table: Table) -> list[str]:
    return [c.name for c in table.columns if (table.name, c.name) not in EXCLUDED]


def rows(conn: Connection, table: Table) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    """(primary key, normalised row) of ``table``, in code-point order of the key, streamed."""
    names = _columns(table)
    keys = list(table.primary_key.columns)
    is_json = [isinstance(table.c[n].type, JSON) for n in names]
    order: list[Any] = []
    for key in keys:
        if conn.dialect.name == "postgresql" and key.type.python_type is str:
            order.append(key.collate("C"))  # byte order of UTF-8 = code-point order = SQLite's BINARY = Python's
        else:
            order.append(key)
    query = select(*(table.c[n] for n in names)).order_by(*order)
    if conn.dialect.name == "postgresql":
        query = query.execution_options(yield_per=2000)
    key_at = [names.index(k.name) for k in keys]
    for raw in conn.execute(query):
        row = tuple(_norm(v, j) for v, j in zip(raw, is_json, strict=True))
        yield tuple(row[i] for i in key_at), row


def _line(row: tuple[Any, ...]) -> bytes:
    return json.dumps(row, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


@dataclass
class TableDiff:
    table: str
    left_digest: str = ""
    right_digest: str = ""
    left_rows: int = 0
    right_rows: int = 0
    differing: int = 0  # rows present on one side only, or different
    shown: list[tuple[str, Any, tuple[Any, ...] | None, tuple[Any, ...] | None]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return self.left_digest == self.right_digest


def table_digest(conn: Connection, table: Table) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    for _, row in rows(conn, table):
        h.update(_line(row))
        n += 1
    return h.hexdigest(), n


def digests(conn: Connection) -> dict[str, tuple[str, int]]:
    """Each folded table's digest and row count, read through ``conn`` (one transaction: one snapshot)."""
    return {t.name: table_digest(conn, t) for t in FOLDED}


def compare_table(left: Connection, right: Connection, table: Table, max_shown: int = MAX_SHOWN) -> TableDiff:
    """Both sides' digests, and the rows they differ in (the first ``max_shown``), in one merge of sorted rows."""
    diff = TableDiff(table.name, columns=_columns(table))
    hl, hr = hashlib.sha256(), hashlib.sha256()
    a, b = rows(left, table), rows(right, table)
    x, y = next(a, None), next(b, None)

    def note(kind: str, key: Any, lrow: tuple[Any, ...] | None, rrow: tuple[Any, ...] | None) -> None:
        diff.differing += 1
        if len(diff.shown) < max_shown:
            diff.shown.append((kind, key, lrow, rrow))

    while x is not None or y is not None:
        if y is None or (x is not None and x[0] < y[0]):
            assert x is not None
            hl.update(_line(x[1]))
            diff.left_rows += 1
            note("only left", x[0], x[1], None)
            x = next(a, None)
        elif x is None or y[0] < x[0]:
            hr.update(_line(y[1]))
            diff.right_rows += 1
            note("only right", y[0], None, y[1])
            y = next(b, None)
        else:
            hl.update(_line(x[1]))
            hr.update(_line(y[1]))
            diff.left_rows += 1
            diff.right_rows += 1
            if x[1] != y[1]:
                note("differs", x[0], x[1], y[1])
            x, y = next(a, None), next(b, None)
    diff.left_digest, diff.right_digest = hl.hexdigest(), hr.hexdigest()
    return diff


def compare(left: Connection, right: Connection, max_shown: int = MAX_SHOWN) -> list[TableDiff]:
    return [compare_table(left, right, t, max_shown) for t in FOLDED]


def describe(diffs: list[TableDiff], left: str = "replay", right: str = "live") -> list[str]:
    """Lines for a person: each table's digests and counts, then its differing rows (the columns that differ)."""
    out: list[str] = []
    for d in diffs:
        verdict = "equal" if d.equal else f"DIFFERS ({d.differing} rows)"
        out.append(
            f"{d.table:20} {left} {d.left_digest[:16]} ({d.left_rows} rows)  "
            f"{right} {d.right_digest[:16]} ({d.right_rows} rows)  {verdict}"
        )
        for kind, key, lrow, rrow in d.shown:
            if kind == "differs" and lrow is not None and rrow is not None:
                cols = [
                    f"{c}: {left}={_short(lv)} {right}={_short(rv)}"
                    for c, lv, rv in zip(d.columns, lrow, rrow, strict=True)
                    if lv != rv
                ]
                out.append(f"  {_key(key)}: " + "; ".join(cols))
            else:
                side = left if kind == "only left" else right
                out.append(f"  {_key(key)}: only in {side}: {_short(lrow if lrow is not None else rrow)}")
        if d.differing > len(d.shown):
            out.append(f"  ... and {d.differing - len(d.shown)} more")
    for (table, column), why in EXCLUDED.items():
        out.append(f"excluded: {table}.{column} ({why})")
    return out


def _key(key: Any) -> str:
    return "/".join(str(k) for k in key) if isinstance(key, tuple) else str(key)


def _short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
