"""The read models' schema, migrated by Alembic (decision 0039): ``create_schema`` brings any database to the head.

The revisions live in chronohook/store/migrations/versions (shipped in the package); the first, r0001, is the schema
as it stood when migrations began, written so that it also brings a database made before them up to it.

Several processes may start on one database at once (a stack's services do): a database at the head costs one read of
``alembic_version``; otherwise each migrates under a lock held for its transaction, PostgreSQL's advisory lock or
SQLite's ``BEGIN EXCLUSIVE`` (which waits out the engine's busy timeout), and the ones that follow find nothing left
to do. On PostgreSQL and SQLite alike a migration's DDL commits with its version row or not at all.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, inspect, text

from chronohook.errors import ChronohookError

MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant 64-bit key: the advisory lock chronohook's migrations take on PostgreSQL ("chrono" in ASCII).
PG_LOCK_KEY = 0x6368726F6E6F
VERSION_TABLE = "alembic_version"


class SchemaTooNew(ChronohookError):
    """The database was migrated by a newer chronohook, past every revision this one knows."""


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """Alembic's configuration without an ini file: on ``connection`` if given, else on the database at ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    # New revision files are named r<id>_<slug>.py: a module name may not start with a digit (mypy).
    config.set_main_option("file_template", "r%%(rev)s_%%(slug)s")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = _script().get_current_head()
    assert head is not None, "no revision in chronohook/store/migrations/versions"
    return head


def current_revision(conn: Connection) -> str | None:
    """The revision the database is at; None when it has no ``alembic_version`` (new, or made before migrations).

    Read directly rather than through Alembic's MigrationContext, which logs two lines each time: every service
    start asks."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    found = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    return None if found is None else str(found)


def upgrade(engine: Engine) -> None:
    """Bring the database's schema to the head revision; nothing when it is there already."""
    with engine.connect() as conn:
        at = current_revision(conn)
    if at == head_revision():
        return
    if at is not None:
        _known(at)
    with engine.connect() as conn:
        _lock(conn)
        command.upgrade(alembic_config(connection=conn), "head")
        conn.commit()


def _known(revision: str) -> None:
    try:
        _script().get_revision(revision)
    except CommandError as e:
        raise SchemaTooNew(
            f"the database's schema is at revision {revision!r}, which this chronohook does not know (its newest is"
            f" {head_revision()!r}): a newer chronohook migrated it; run that version on it"
        ) from e


def _lock(conn: Connection) -> None:
    """Serialise migrations across processes until ``conn``'s transaction ends."""
    name = conn.dialect.name
    if name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
    elif name == "sqlite":
        # pysqlite begins no transaction before DDL by itself: this one holds the write lock, the migration's DDL and
        # its version row (SQLite's DDL is transactional) until the commit.
        conn.exec_driver_sql("BEGIN EXCLUSIVE")
