"""Several processes starting on one new database each create the schema; none of them fails for the others."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from chronohook.store.engine import create_schema, make_engine
from chronohook.store.migrate import current_revision, head_revision
from chronohook.store.tables import metadata
from tests.support.postgres import new_database


def _create(url: str) -> None:
    engine = make_engine(url)
    try:
        create_schema(engine)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'chronohook.db'}"
    return new_database(request.getfixturevalue("postgres_url"))


def test_processes_creating_one_schema_at_once_all_succeed(url: str) -> None:
    # Given a database nothing has created yet (SQLite file, PostgreSQL database)
    # When four processes create its schema at the same moment (each runs the migrations under a lock)
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_create, args=(url,)) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    # Then every one of them succeeded, every table is there, and the database is at the head revision once
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    engine = make_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) >= {t.name for t in metadata.sorted_tables}
        with engine.connect() as conn:
            assert current_revision(conn) == head_revision()
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        engine.dispose()
