"""Engine construction: SQLite (WAL, shared by several processes) by default, PostgreSQL by URL."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateIndex

from chronohook.store.tables import metadata


class RawJson(str):
    """A JSON document already serialised (by pydantic-core): stored as is, not encoded a second time."""


def json_serializer(value: Any) -> str:
    # The projector hands over pydantic's own JSON; json.dumps of model_dump() cost it ~15% of its time.
    return str.__str__(value) if isinstance(value, RawJson) else json.dumps(value)


def private_sqlite_file(path: Path) -> None:
    """Make the SQLite file (job data) readable by its owner only, whatever the umask.

    SQLite gives the ``-wal`` and ``-shm`` files the database file's own mode, so creating that file 0600 before
    SQLite does is enough; files an older version left readable by others are tightened. A directory made here
    is 0700.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        try:
            info = name.stat()
            if info.st_mode & 0o077 and info.st_uid == os.getuid():
                name.chmod(info.st_mode & 0o700)
        except FileNotFoundError:
            continue


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = make_url(url).database  # None or "" for "sqlite://", an in-memory database
        if path and path != ":memory:":
            private_sqlite_file(Path(path))
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, json_serializer=json_serializer
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, json_serializer=json_serializer)


def create_schema(engine: Engine) -> None:
    """Create what is missing; several processes starting on one new database may run this at the same time."""
    for table in metadata.sorted_tables:
        try:
            table.create(engine, checkfirst=True)
        except DBAPIError:
            # Another process created it between the check and the CREATE; its indexes follow below.
            if not inspect(engine).has_table(table.name):
                raise
    add_missing_columns(engine)
    add_missing_indexes(engine)


def add_missing_indexes(engine: Engine) -> None:
    """Create indexes a database made by an older version lacks (create_all only indexes the tables it creates).

    ``IF NOT EXISTS`` (SQLite and PostgreSQL alike), so processes starting together cannot trip over each other.
    """
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            for index in table.indexes:
                conn.execute(CreateIndex(index, if_not_exists=True))


def add_missing_columns(engine: Engine) -> None:
    """Add columns that a database made by an older version lacks (create_all only creates missing tables).

    Only nullable columns without a default can be added so; several processes may race to add one, which is fine.
    """
    for table in metadata.sorted_tables:
        present = {c["name"] for c in inspect(engine).get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable or column.server_default is not None:
                raise RuntimeError(f"{table.name}.{column.name} is missing and cannot be added in place")
            kind = column.type.compile(dialect=engine.dialect)
            try:
                with engine.begin() as conn:
                    conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))
            except DBAPIError:
                if column.name not in {c["name"] for c in inspect(engine).get_columns(table.name)}:
                    raise


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
