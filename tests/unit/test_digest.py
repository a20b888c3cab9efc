"""The read models' canonical digest: equal rows give equal digests whatever the storage details; a differing row is
named, with the columns it differs in; bookkeeping and clock-stamped columns are left out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, update

from chronohook.readmodel.digest import EXCLUDED, FOLDED, compare, describe, digests
from chronohook.store.engine import RawJson, create_schema, make_engine
from chronohook.store.tables import api_tokens, consumer_offsets, jobs, queues

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _engine(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    return engine


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    left, right = _engine(tmp_path / "left.db"), _engine(tmp_path / "right.db")
    yield left, right
    left.dispose()
    right.dispose()


def _job(engine: Engine, job_id: str, doc: str, created_at: datetime = T0) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(jobs).values(
                job_id=job_id, tenant="t", api="recuro", integer_id=1, created_at=created_at, doc=RawJson(doc)
            )
        )


def _queue(engine: Engine, queue_id: int, created_at: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(insert(queues).values(queue_id=queue_id, tenant="t", name=f"q{queue_id}", created_at=created_at))


def test_the_same_rows_written_differently_give_equal_digests(pair: tuple[Engine, Engine]) -> None:
    left, right = pair
    # Given the same jobs, inserted in another order, with JSON keys in another order and times in another zone
    _job(left, "a", '{"x": 1, "y": [1, 2]}')
    _job(left, "b", '{"z": null}')
    _job(right, "b", '{"z": null}', created_at=T0)
    _job(right, "a", '{"y": [1, 2], "x": 1}', created_at=T0.astimezone(UTC))
    # And bookkeeping that differs: stored offsets of other consumers, a token (not a read model)
    with left.begin() as conn:
        conn.execute(insert(consumer_offsets).values(consumer="projector", topic="e", partition=0, next_offset=9))
        conn.execute(insert(api_tokens).values(token_hash="h", tenant="t", created_at=T0))
    # And queues stamped with each projector's clock
    _queue(left, 7, T0)
    _queue(right, 7, T0 + timedelta(hours=1))
    # When both are compared
    with left.connect() as a, right.connect() as b:
        diffs = compare(a, b)
        lone = digests(a)
    # Then every folded table is equal, with the same digest as computed alone
    assert [d.table for d in diffs] == [t.name for t in FOLDED]
    assert all(d.equal for d in diffs), describe(diffs)
    jobs_diff = next(d for d in diffs if d.table == "jobs")
    assert (jobs_diff.left_rows, jobs_diff.right_rows) == (2, 2)
    assert lone["jobs"] == (jobs_diff.left_digest, 2)
    # And the clock-stamped column is reported as excluded
    assert ("queues", "created_at") in EXCLUDED
    assert any(line.startswith("excluded: queues.created_at") for line in describe(diffs))


def test_differing_missing_and_extra_rows_are_named(pair: tuple[Engine, Engine]) -> None:
    left, right = pair
    # Given one job that differs in its document, one only on the left, one only on the right
    _job(left, "same", '{"v": 1}')
    _job(right, "same", '{"v": 1}')
    _job(left, "changed", '{"status": "completed"}')
    _job(right, "changed", '{"status": "scheduled"}')
    _job(left, "gone", "{}")
    _job(right, "extra", "{}")
    # When compared
    with left.connect() as a, right.connect() as b:
        diffs = compare(a, b, max_shown=20)
    # Then the jobs table differs in those three rows, and only it
    by_table = {d.table: d for d in diffs}
    assert not by_table["jobs"].equal
    assert all(d.equal for name, d in by_table.items() if name != "jobs")
    assert by_table["jobs"].differing == 3
    kinds = {key: kind for kind, key, _, _ in by_table["jobs"].shown}
    assert kinds == {("changed",): "differs", ("gone",): "only left", ("extra",): "only right"}
    # And the report says which column differs and how
    text = "\n".join(describe(diffs))
    assert "changed: doc: replay=" in text and "completed" in text and "scheduled" in text
    assert "gone: only in replay" in text
    assert "extra: only in live" in text


def test_shown_rows_are_bounded(pair: tuple[Engine, Engine]) -> None:
    left, right = pair
    # Given 30 jobs on one side only
    for i in range(30):
        _job(left, f"j{i:02}", "{}")
    # When compared with at most 5 rows shown
    with left.connect() as a, right.connect() as b:
        diffs = compare(a, b, max_shown=5)
    jobs_diff = next(d for d in diffs if d.table == "jobs")
    # Then all 30 are counted, 5 shown, the rest summed up
    assert jobs_diff.differing == 30
    assert len(jobs_diff.shown) == 5
    assert "  ... and 25 more" in describe(diffs)


def test_a_column_change_changes_the_digest(pair: tuple[Engine, Engine]) -> None:
    left, _ = pair
    # Given a job
    _job(left, "a", '{"v": 1}')
    with left.connect() as conn:
        before = digests(conn)["jobs"]
    # When a column the digest covers changes
    with left.begin() as conn:
        conn.execute(update(jobs).values(integer_id=2))
    # Then the digest changes
    with left.connect() as conn:
        assert digests(conn)["jobs"] != before
