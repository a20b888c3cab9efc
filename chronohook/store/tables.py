"""Table definitions. Views are stored as JSON documents beside the columns queries filter on."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("tenant", String(255), nullable=False),
    Column("label", String(255)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Added after the first release: nullable, so create_schema can add it to an existing database.
    Column("revoked_at", DateTime(timezone=True)),
)

# Written by ingest before it publishes: makes "name is unique per tenant" hold across ingest processes.
job_names = Table(
    "job_names",
    metadata,
    Column("tenant", String(255), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("job_id", String(64), nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("tenant", String(255), nullable=False),
    Column("api", String(16), nullable=False),
    Column("integer_id", BigInteger),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("doc", JSON, nullable=False),
    Index("ix_jobs_tenant_api_created", "tenant", "api", "created_at"),
    Index("ix_jobs_integer_id", "integer_id"),
)

job_runs = Table(
    "job_runs",
    metadata,
    Column("run_id", String(160), primary_key=True),
    Column("job_id", String(64), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("executed_at", DateTime(timezone=True), nullable=False),
    Column("doc", JSON, nullable=False),
    # A job's runs, newest first, a page at a time (chronohook/readmodel/runs.py).
    Index("ix_job_runs_job_executed", "job_id", "executed_at"),
)

queues = Table(
    "queues",
    metadata,
    Column("queue_id", BigInteger, primary_key=True),
    Column("tenant", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # A queue's settings (QueueSettings JSON) once PATCHed, else null (Recuro's defaults), and when they last
    # changed (decision 0015). Nullable: create_schema adds them to an older database.
    Column("settings", JSON),
    Column("updated_at", DateTime(timezone=True)),
    UniqueConstraint("tenant", "name"),
)

# When each deleted Recuro queue was last deleted (decision 0030): the projector reads the job log and the
# queue-settings topic in no mutual order, so a push older than the deletion, folded after it, must not bring the
# queue back.
deleted_queues = Table(
    "deleted_queues",
    metadata,
    Column("tenant", String(255), primary_key=True),
    Column("queue_id", BigInteger, primary_key=True, autoincrement=False),
    Column("deleted_at", DateTime(timezone=True), nullable=False),
)

# The projector's consumed offsets, stored in the same transaction as the rows they produced.
consumer_offsets = Table(
    "consumer_offsets",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)

# Node-id leases (chronohook/store/leases.py, decision 0013): an ingest process mints integer ids only under the node id
# it holds here. expires_ms is Unix milliseconds (an integer compares the same on every backend).
node_leases = Table(
    "node_leases",
    metadata,
    Column("node_id", Integer, primary_key=True, autoincrement=False),
    Column("holder", String(64), nullable=False),
    Column("holder_info", String(255), nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
)

# Leases of other services' per-process numbers (chronohook/store/leases.py, decision 0013): the timer's transactional
# id. A table of its own, keyed by service, so ingest's node_leases rows and meaning stay as they were. claim_key is
# the holder's stable name (its group instance id, or host:pid): a restart under the same name takes its number back
# at once instead of after the dead incarnation's lease runs out.
service_leases = Table(
    "service_leases",
    metadata,
    Column("service", String(64), primary_key=True),
    Column("node_id", Integer, primary_key=True, autoincrement=False),
    Column("holder", String(64), nullable=False),
    Column("holder_info", String(255), nullable=False),
    Column("claim_key", String(255), nullable=True),
    Column("expires_ms", BigInteger, nullable=False),
)

# Queue parallelism slots (chronohook/store/queue_slots.py, decision 0017): an executor sends a job of a queue with
# max_parallelism only while it holds one of the queue's slot rows (holder = a token per hold, "" when released).
# expires_ms is Unix milliseconds, so a killed executor's slots come back. Keyed by tenant too: two tenants' 53-bit
# queue ids that collide never share slots.
queue_slots = Table(
    "queue_slots",
    metadata,
    Column("tenant", String(255), primary_key=True),
    Column("queue_id", BigInteger, primary_key=True, autoincrement=False),
    Column("slot", Integer, primary_key=True, autoincrement=False),
    Column("holder", String(64), nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
)

# Each tenant's request-signing secrets (chronohook/store/signing_secrets.py, decision 0018): the current one, the one
# it replaced while that keeps signing beside it (until previous_expires_at), and whether Recuro's pair is sent too.
# Stored as given, not hashed: a secret is used to sign, not only to verify (docs/security.md).
signing_secrets = Table(
    "signing_secrets",
    metadata,
    Column("tenant", String(255), primary_key=True),
    Column("secret", String(600), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("previous_secret", String(600)),
    Column("previous_expires_at", DateTime(timezone=True)),
    Column("recuro_compat", Integer, nullable=False),
)

# Idempotency-Key reservations (chronohook/store/idempotency.py, decision 0019): one row per (tenant, endpoint, key),
# inserted if absent by the first request, which stores its answer there once its events are appended. nonce is part of
# the derived job ids, so a key reused after expiry makes new jobs. Times are Unix milliseconds (compared as integers).
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant", String(255), primary_key=True),
    Column("scope", String(32), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("body_sha256", String(64), nullable=False),
    Column("nonce", String(32), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    # The current holder's claim; NULL once it gave up (its append failed), so the next request takes over at once.
    Column("claimed_ms", BigInteger),
    Column("status", Integer),
    Column("response_json", Text),
    Index("ix_idempotency_keys_expires", "expires_ms"),
)

# Dead letters (chronohook/readmodel/dead_letters.py): one row per Recuro job whose retries ran out, keyed by the job
# the chain started from, folded by the projector from JobDeadLettered; a replay marks it (replayed_job_id, then left
# out of the list), a purge deletes it. last_run_id names the failed run whose summary the list shows.
dead_letters = Table(
    "dead_letters",
    metadata,
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
    # When the timer purges it (the queue's dlq_retention_days after dead_lettered_at, as they stood then).
    Column("purge_at", DateTime(timezone=True)),
    Index("ix_dead_letters_tenant_at", "tenant", "dead_lettered_at"),
    Index("ix_dead_letters_tenant_queue_at", "tenant", "queue_id", "dead_lettered_at"),
)

# The jobs of purged retry chains (chronohook/readmodel/dead_letters.py): a retry whose chain's original is here is
# purged as it is folded. A chain's jobs are keyed apart, so in other partitions; without this, a rebuild that reads
# the purge before a retry's push would keep that retry, and the read models would depend on partition interleaving.
purged_chains = Table(
    "purged_chains",
    metadata,
    Column("job_id", String(64), primary_key=True),
)

# Alerts (chronohook/readmodel/alerts.py, decision 0020): one row per AlertRaised, listed newest first per tenant; the
# delivery columns follow the alert's POST. A tenant's alert destination, as its last set/clear left it.
alerts = Table(
    "alerts",
    metadata,
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

alert_destinations = Table(
    "alert_destinations",
    metadata,
    Column("tenant", String(255), primary_key=True),
    Column("url", Text, nullable=False),
    Column("format", String(8), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# A job's history, its audit trail (chronohook/readmodel/history.py): one row per event of a job, folded by the
# projector, in log order (a job's events share one partition: log_partition, log_offset order them). Kept after the
# job is deleted or purged, whose event is then its last row. Each row carries its event's tenant, and every read
# filters on it. (job_id, event_id) makes a re-applied or re-emitted event one row. payload: the event's own fields
# (the envelope's are columns). event_id and run_id are Text: no length of theirs may make a record unstorable.
job_events = Table(
    "job_events",
    metadata,
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

# -- read-your-writes (issue 15, decision 0035) ----------------------------------------------------------------------
# Each tenant's last write through the API, per log partition: every ingest process raises it (never lowers it) after
# an append and before it answers; a read without a position header waits until the projector's consumer_offsets
# are past it (services/ingest/consistency.py). Shared by every API process through the database.
tenant_write_positions = Table(
    "tenant_write_positions",
    metadata,
    Column("tenant", String(255), primary_key=True),
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("log_offset", BigInteger, nullable=False),
)

# -- metrics and health (issue 17, decision 0042) --------------------------------------------------------------------
# One row per running timer, executor and projector process: the last instant its main loop made progress (Unix ms),
# renewed every heartbeat_interval_s (chronohook/heartbeats.py). /readyz answers 503 naming a service with a row older
# than heartbeat_stale_s; a row older than heartbeat_gone_s is a process gone and is not counted. A cleanly stopped
# process deletes its row.
service_heartbeats = Table(
    "service_heartbeats",
    metadata,
    Column("service", String(64), primary_key=True),
    Column("instance", String(255), primary_key=True),
    Column("beat_ms", BigInteger, nullable=False),
    Column("started_ms", BigInteger, nullable=False),
)
