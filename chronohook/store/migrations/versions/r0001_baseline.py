"""The read models' schema as it stood when migrations began; brings a database made before them up to it.

Revision ID: 0001
Revises: (none)

Written to run on any database chronohook ever made, as well as on an empty one (decision 0039): every table is
created if missing; columns added since the first release (api_tokens.revoked_at, queues.settings and
queues.updated_at, ...) are added where missing, as ``add_missing_columns`` did; missing indexes are created. A
``queue_slots`` table from before slots were keyed by tenant (no ``tenant`` column) is dropped and made anew: its rows
are leases of a few seconds that executors claim again. Tables chronohook no longer uses (``callback_outbox``) are
left alone.

The schema below is this revision's own copy, frozen: a later change to chronohook/store/tables.py goes into a new
revision, never here.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
)
from sqlalchemy.schema import CreateIndex

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def schema() -> MetaData:
    """The tables at this revision (tests write rows through it: data as this revision held it)."""
    schema = MetaData()
    Table(
        "api_tokens",
        schema,
        Column("token_hash", String(64), primary_key=True),
        Column("tenant", String(255), nullable=False),
        Column("label", String(255)),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("revoked_at", DateTime(timezone=True)),
    )
    Table(
        "job_names",
        schema,
        Column("tenant", String(255), primary_key=True),
        Column("name", String(255), primary_key=True),
        Column("job_id", String(64), nullable=False),
    )
    Table(
        "jobs",
        schema,
        Column("job_id", String(64), primary_key=True),
        Column("tenant", String(255), nullable=False),
        Column("api", String(16), nullable=False),
        Column("integer_id", BigInteger),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("doc", JSON, nullable=False),
        Index("ix_jobs_tenant_api_created", "tenant", "api", "created_at"),
        Index("ix_jobs_integer_id", "integer_id"),
    )
    Table(
        "job_runs",
        schema,
        Column("run_id", String(160), primary_key=True),
        Column("job_id", String(64), nullable=False, index=True),
        Column("attempt", Integer, nullable=False),
        Column("executed_at", DateTime(timezone=True), nullable=False),
        Column("doc", JSON, nullable=False),
        Index("ix_job_runs_job_executed", "job_id", "executed_at"),
    )
    Table(
        "queues",
        schema,
        Column("queue_id", BigInteger, primary_key=True),
        Column("tenant", String(255), nullable=False),
        Column("name", String(255), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("settings", JSON),
        Column("updated_at", DateTime(timezone=True)),
        UniqueConstraint("tenant", "name"),
    )
    Table(
        "deleted_queues",
        schema,
        Column("tenant", String(255), primary_key=True),
        Column("queue_id", BigInteger, primary_key=True, autoincrement=False),
        Column("deleted_at", DateTime(timezone=True), nullable=False),
    )
    Table(
        "consumer_offsets",
        schema,
        Column("consumer", String(64), primary_key=True),
        Column("topic", String(255), primary_key=True),
        Column("partition", Integer, primary_key=True),
        Column("next_offset", BigInteger, nullable=False),
    )
    Table(
        "node_leases",
        schema,
        Column("node_id", Integer, primary_key=True, autoincrement=False),
        Column("holder", String(64), nullable=False),
        Column("holder_info", String(255), nullable=False),
        Column("expires_ms", BigInteger, nullable=False),
    )
    Table(
        "service_leases",
        schema,
        Column("service", String(64), primary_key=True),
        Column("node_id", Integer, primary_key=True, autoincrement=False),
        Column("holder", String(64), nullable=False),
        Column("holder_info", String(255), nullable=False),
        Column("claim_key", String(255), nullable=True),
        Column("expires_ms", BigInteger, nullable=False),
    )
    Table(
        "queue_slots",
        schema,
        Column("tenant", String(255), primary_key=True),
        Column("queue_id", BigInteger, primary_key=True, autoincrement=False),
        Column("slot", Integer, primary_key=True, autoincrement=False),
        Column("holder", String(64), nullable=False),
        Column("expires_ms", BigInteger, nullable=False),
    )
    Table(
        "signing_secrets",
        schema,
        Column("tenant", String(255), primary_key=True),
        Column("secret", String(600), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("previous_secret", String(600)),
        Column("previous_expires_at", DateTime(timezone=True)),
        Column("recuro_compat", Integer, nullable=False),
    )
    Table(
        "idempotency_keys",
        schema,
        Column("tenant", String(255), primary_key=True),
        Column("scope", String(32), primary_key=True),
        Column("key", String(255), primary_key=True),
        Column("body_sha256", String(64), nullable=False),
        Column("nonce", String(32), nullable=False),
        Column("created_ms", BigInteger, nullable=False),
        Column("expires_ms", BigInteger, nullable=False),
        Column("claimed_ms", BigInteger),
        Column("status", Integer),
        Column("response_json", Text),
        Index("ix_idempotency_keys_expires", "expires_ms"),
    )
    Table(
        "dead_letters",
        schema,
        Column("job_id", String(64), primary_key=True),
        Column("tenant", String(255), nullable=False),
        Column("integer_id", BigInteger, nullable=False),
        Column("queue", String(255), nullable=False),
        Column("queue_id", BigInteger, nullable=False),
        Column("method", String(16), nullable=False),
        Column("url", Text, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("dead_lettered_at", DateTime(timezone=True), nullable=False),
        Column("last_run_id", String(160)),
        Column("replayed_job_id", String(64)),
        Column("replayed_at", DateTime(timezone=True)),
        Column("purge_at", DateTime(timezone=True)),
        Index("ix_dead_letters_tenant_at", "tenant", "dead_lettered_at"),
        Index("ix_dead_letters_tenant_queue_at", "tenant", "queue_id", "dead_lettered_at"),
    )
    Table(
        "purged_chains",
        schema,
        Column("job_id", String(64), primary_key=True),
    )
    Table(
        "alerts",
        schema,
        Column("alert_id", String(200), primary_key=True),
        Column("tenant", String(255), nullable=False),
        Column("job_id", String(64), nullable=False, index=True),
        Column("cron_id", BigInteger),
        Column("queue", String(255)),
        Column("kind", String(16), nullable=False),
        Column("raised_at", DateTime(timezone=True), nullable=False),
        Column("delivery_status", String(16), nullable=False),
        Column("delivery_attempts", Integer, nullable=False),
        Column("doc", JSON, nullable=False),
        Index("ix_alerts_tenant_raised", "tenant", "raised_at"),
    )
    Table(
        "alert_destinations",
        schema,
        Column("tenant", String(255), primary_key=True),
        Column("url", Text, nullable=False),
        Column("format", String(8), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )
    Table(
        "job_events",
        schema,
        Column("job_id", String(64), primary_key=True),
        Column("event_id", Text, primary_key=True),
        Column("tenant", String(255), nullable=False),
        Column("api", String(16), nullable=False),
        Column("type", String(64), nullable=False),
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        Column("run_id", Text),
        Column("schema_version", Integer, nullable=False),
        Column("log_partition", Integer, nullable=False),
        Column("log_offset", BigInteger, nullable=False),
        Column("payload", JSON, nullable=False),
        Index("ix_job_events_job_position", "job_id", "log_partition", "log_offset"),
    )
    Table(
        "tenant_write_positions",
        schema,
        Column("tenant", String(255), primary_key=True),
        Column("topic", String(255), primary_key=True),
        Column("partition", Integer, primary_key=True),
        Column("log_offset", BigInteger, nullable=False),
    )
    return schema


def upgrade() -> None:
    conn = op.get_bind()
    tables = schema()
    _remake_queue_slots_without_tenant(conn)
    for table in tables.sorted_tables:
        table.create(conn, checkfirst=True)
    _add_missing_columns(conn, tables)
    for table in tables.sorted_tables:
        for index in table.indexes:
            conn.execute(CreateIndex(index, if_not_exists=True))


def downgrade() -> None:
    schema().drop_all(op.get_bind())


def _remake_queue_slots_without_tenant(conn: Connection) -> None:
    found = inspect(conn)
    if found.has_table("queue_slots") and "tenant" not in {c["name"] for c in found.get_columns("queue_slots")}:
        op.drop_table("queue_slots")


def _add_missing_columns(conn: Connection, tables: MetaData) -> None:
    found = inspect(conn)
    for table in tables.sorted_tables:
        present = {c["name"] for c in found.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable or column.server_default is not None:
                raise RuntimeError(f"{table.name}.{column.name} is missing and cannot be added in place")
            op.add_column(table.name, Column(column.name, column.type, nullable=True))
