"""Engine construction: SQLite (WAL, shared by several processes) by default, PostgreSQL by URL."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, text

from chronohook.store.migrate import upgrade


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
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            json_serializer=json_serializer,
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    # hide_parameters: an SQL error never prints bound values (a signing secret, a header) into a log (decision 0044).
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=10, json_serializer=json_serializer, hide_parameters=True
    )


def create_schema(engine: Engine) -> None:
    """Bring the database to the current schema by its migrations (chronohook/store/migrate.py): a new one, one an
    older chronohook made (before migrations too), or one already there (one read). Several processes starting on one
    database may run this at the same time."""
    upgrade(engine)


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
