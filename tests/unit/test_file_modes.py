"""Files holding job data are readable by their owner only, whatever the umask (docs/security.md)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert

from chronohook.store.engine import create_schema, make_engine
from chronohook.store.tables import queues


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    # The engine must not rely on the umask: prove it under the usual, permissive one.
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("permissive_umask")
def test_a_new_sqlite_database_and_its_wal_files_are_owner_only(tmp_path: Path) -> None:
    # Given a database path in a directory that does not exist yet
    db = tmp_path / "data" / "chronohook.db"

    # When an engine is made, the schema created and a row written (SQLite makes -wal and -shm then)
    engine = make_engine(f"sqlite:///{db}")
    try:
        create_schema(engine)
        with engine.begin() as conn:
            conn.execute(insert(queues).values(queue_id=1, tenant="t", name="q", created_at=datetime.now(UTC)))
        wal_files = [Path(f"{db}-wal"), Path(f"{db}-shm")]

        # Then the directory is 0700 and the database, -wal and -shm files 0600
        assert mode(db.parent) == 0o700
        assert all(p.exists() for p in wal_files)
        assert {p.name: mode(p) for p in [db, *wal_files]} == {p.name: 0o600 for p in [db, *wal_files]}
    finally:
        engine.dispose()


@pytest.mark.usefixtures("permissive_umask")
def test_a_database_an_older_version_left_readable_is_tightened(tmp_path: Path) -> None:
    # Given a database file readable by everyone
    db = tmp_path / "chronohook.db"
    db.touch()
    db.chmod(0o644)

    # When an engine is made on it
    make_engine(f"sqlite:///{db}").dispose()

    # Then it is owner-only
    assert mode(db) == 0o600
