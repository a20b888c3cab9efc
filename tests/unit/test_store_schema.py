"""Several processes starting on one new database each create the schema; none of them fails for the others."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from sqlalchemy import inspect

from chronohook.store.engine import create_schema, make_engine
from chronohook.store.tables import metadata


def _create(url: str) -> None:
    engine = make_engine(url)
    try:
        create_schema(engine)
    finally:
        engine.dispose()


def test_processes_creating_one_schema_at_once_all_succeed(tmp_path: Path) -> None:
    # Given a database file nothing has created yet
    url = f"sqlite:///{tmp_path / 'chronohook.db'}"
    # When four processes create its schema at the same moment
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_create, args=(url,)) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    # Then every one of them succeeded, and every table is there
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    engine = make_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) >= {t.name for t in metadata.sorted_tables}
    finally:
        engine.dispose()
