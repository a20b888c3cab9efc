"""The read models' schema migrations (chronohook/store/migrate.py, decision 0039), on SQLite and PostgreSQL.

A database at any earlier revision, or made before migrations began, is brought to the head by ``create_schema`` and
reads back what it held; the head's schema is exactly chronohook/store/tables.py's (so a table change without its
migration fails here).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, select, text

from chronohook.readmodel.queues import queue_by_name
from chronohook.readmodel.store import ReadModelStore
from chronohook.store import tables
from chronohook.store.engine import create_schema, make_engine
from chronohook.store.migrate import SchemaTooNew, alembic_config, current_revision, head_revision
from chronohook.store.queue_slots import SlotQueue, SqlSlotStore
from chronohook.store.tokens import create_token, hash_token, revoke_token, tenant_for_token
from tests.contracts.test_read_model_store import T0, _batch, _due, _pushed, _succeeded
from tests.support.postgres import new_database


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty database (its own PostgreSQL database on the module's server)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'chronohook.db'}"
    return new_database(request.getfixturevalue("postgres_url"))


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    eng = make_engine(url)
    yield eng
    eng.dispose()


def _differences(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        found: list[Any] = compare_metadata(context, tables.metadata)
    return found


def _revision_schema(revision: str) -> MetaData:
    """The tables as the given revision defines them (its frozen copy): rows written through them are that
    revision's data."""
    script = ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    assert script is not None
    schema: MetaData = script.module.schema()
    return schema


def test_a_new_database_is_migrated_to_the_head_and_matches_the_tables(engine: Engine) -> None:
    # Given an empty database
    # When the schema is created, twice (the second start finds nothing to do)
    create_schema(engine)
    create_schema(engine)
    # Then it is at the head revision, and its schema is tables.py's, no more, no less
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
    assert _differences(engine) == []


def test_data_written_at_the_first_revision_upgrades_and_reads_back(url: str, engine: Engine) -> None:
    # Given a database at the first revision holding rows written as that revision defined its tables
    command.upgrade(alembic_config(url=url), "0001")
    old = _revision_schema("0001").tables
    token = secrets.token_urlsafe(24)
    with engine.begin() as conn:
        conn.execute(
            old["api_tokens"].insert().values(token_hash=hash_token(token), tenant="acme", label="ci", created_at=T0)
        )
        conn.execute(
            old["queues"]
            .insert()
            .values(queue_id=7, tenant="acme", name="emails", created_at=T0, settings={"max_parallelism": 2})
        )
        conn.execute(old["job_names"].insert().values(tenant="acme", name="backup", job_id="rj_1"))
    # When chronohook starts on it
    create_schema(engine)
    # Then it is at the head, and today's code reads every row back
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
        assert conn.execute(select(tables.job_names.c.job_id)).scalars().all() == ["rj_1"]
    assert tenant_for_token(engine, token) == "acme"
    queue = queue_by_name(engine, "acme", "emails")
    assert queue is not None
    assert (queue.queue_id, queue.settings.max_parallelism) == (7, 2)
    assert _differences(engine) == []


def _as_before_migrations(engine: Engine) -> None:
    """Turn a database into one an older chronohook left: no alembic_version, no columns, tables or index added
    since its release, and queue_slots not yet keyed by tenant (holding a slot)."""
    with engine.begin() as conn:
        for statement in (
            "DROP TABLE alembic_version",
            "ALTER TABLE api_tokens DROP COLUMN revoked_at",
            "ALTER TABLE queues DROP COLUMN settings",
            "ALTER TABLE queues DROP COLUMN updated_at",
            "DROP INDEX ix_job_runs_job_executed",
            "DROP TABLE job_events",
            "DROP TABLE deleted_queues",
            "DROP TABLE tenant_write_positions",
            "DROP TABLE queue_slots",
            "CREATE TABLE queue_slots (queue_id BIGINT NOT NULL, slot INTEGER NOT NULL, holder VARCHAR(64) NOT NULL,"
            " expires_ms BIGINT NOT NULL, PRIMARY KEY (queue_id, slot))",
            "INSERT INTO queue_slots VALUES (7, 0, 'old-executor', 1)",
        ):
            conn.execute(text(statement))


def test_a_database_made_before_migrations_upgrades_and_reads_back(engine: Engine) -> None:
    # Given a database an older chronohook made and filled: a token, a job that ran (in queue 7, "q"), a queue
    create_schema(engine)
    token = create_token(engine, "acme")
    store = ReadModelStore(engine)
    store.apply("projector", _batch(_pushed(1), _due(1), _succeeded(1)), T0)
    with engine.begin() as conn:
        conn.execute(tables.queues.insert().values(queue_id=8, tenant="acme", name="emails", created_at=T0))
    _as_before_migrations(engine)
    # When today's chronohook starts on it, twice
    create_schema(engine)
    create_schema(engine)
    # Then it is at the head with tables.py's schema
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
    assert _differences(engine) == []
    # And what it held reads back: the token, the job's view and run, the queue (no settings yet: Recuro's defaults)
    assert tenant_for_token(engine, token) == "acme"
    fresh = ReadModelStore(engine)
    view = fresh.job("t1", "rj_1")
    assert view is not None
    assert (view.status, view.final_status) == ("completed", "success")
    assert [r.run_id for r in fresh.runs("rj_1")] == ["rj_1:0:1"]
    assert fresh.offsets("projector") == {("log", 0): 3}
    queue = queue_by_name(engine, "acme", "emails")
    assert queue is not None
    assert (queue.queue_id, queue.settings.max_parallelism) == (8, None)
    # And the columns and tables added since work: a token is revoked, a queue slot claimed
    assert revoke_token(engine, token, now=datetime(2026, 2, 1, tzinfo=UTC)).revoked_at is not None
    assert tenant_for_token(engine, token) is None
    assert SqlSlotStore(engine).claim(SlotQueue("acme", 7), 1, "executor", now_ms=10, expires_ms=20) == 0


def test_a_database_migrated_past_this_version_is_refused(engine: Engine) -> None:
    # Given a database a newer chronohook migrated to a revision this one does not know
    create_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'from-the-future'"))
    # When this chronohook starts on it
    # Then it refuses, naming the revision, and changes nothing
    with pytest.raises(SchemaTooNew, match="from-the-future"):
        create_schema(engine)
    with engine.connect() as conn:
        assert current_revision(conn) == "from-the-future"
