"""One settings object per process, read from ``CHRONOHOOK_*`` variables once at start and passed in."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from chronohook.kafka.properties import read_properties
from schemas.topics import DEFAULT_BOOTSTRAP, DEFAULT_PARTITIONS, DEFAULT_PREFIX, topic_name


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHRONOHOOK_", frozen=True, extra="ignore")

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    data_dir: Path = Path(".chronohook")
    kafka_bootstrap: str = DEFAULT_BOOTSTRAP
    # The controller port of the embedded broker `chronohook dev` starts; checked free first (decision 0037).
    kafka_controller_port: int = Field(default=9093, ge=1, le=65535)
    database_url: str | None = None
    topic_prefix: str = DEFAULT_PREFIX
    partitions: int = Field(default=DEFAULT_PARTITIONS, ge=1, le=1024)
    # The node id (0-63) an ingest process asks to lease for its integer ids, and the number a timer process asks to
    # lease for its transactional id (chronohook/store/leases.py, each in its own space). Unset, it leases a free one;
    # set, start-up fails while another live process holds it.
    node_id: int = Field(default=0, ge=0, le=63)
    # Ingest processes `chronohook dev` runs on the one API port (SO_REUSEPORT); each leases its own node id.
    api_workers: int = Field(default=1, ge=1, le=16)
    # Executor processes `chronohook dev` runs, one consumer group. One Python process tops out near one core (~1,700
    # deliveries/s measured); each takes whole partitions, so one per partition (3 by default) spreads a burst evenly
    # (decision 0036).
    executor_processes: int = Field(default=3, ge=1, le=64)
    # Static consumer group membership (``group.instance.id``): a process restarted after a crash takes its partitions
    # back at once instead of after its dead predecessor's session timeout. Must be unique per process in a group (two
    # processes with one id fence each other), so it has no default; the supervisor gives each child its own.
    group_instance_id: str | None = Field(default=None, min_length=1, max_length=249)
    executor_concurrency: int = Field(default=256, ge=1, le=10_000)
    default_timeout_seconds: float = Field(default=30.0, gt=0, le=900)
    response_body_limit: int = Field(default=16_384, ge=0)
    # The timer hands a job to the executors this early; the executor waits out the rest. It hides the timer's
    # transaction commit and the read_committed hand-over (~100 ms measured under load; see docs/benchmarks.md).
    timer_lead_ms: int = Field(default=250, ge=0, le=5_000)
    # The timer keeps in RAM only the entries waking within this window (decision 0026); later ones wait on disk,
    # under ``data_dir/timer/<topic prefix>/``, and are loaded as the window slides, every refill interval.
    timer_near_window_s: float = Field(default=60.0, ge=1.0, le=3_600.0)
    timer_refill_interval_s: float = Field(default=2.0, gt=0.0, le=60.0)
    max_request_bytes: int = Field(default=1_048_576, ge=1_024)
    # POST /api/jobs/batch carries up to 1,000 jobs.
    max_batch_request_bytes: int = Field(default=16_777_216, ge=1_024)
    log_level: str = "INFO"

    # -- safety (docs/security.md) ---------------------------------------------------------------------------------
    # CIDR networks outbound requests may reach although the egress guard refuses their class (comma-separated;
    # empty allows none). `chronohook dev` sets loopback when the variable is unset.
    egress_allow: str = ""
    # Requests in flight to one host per executor process; scarce slots are shared across tenants.
    host_concurrency: int = Field(default=32, ge=1, le=10_000)
    # Creations per tenant per second (a token bucket holding ``tenant_create_burst``); 0 turns the limit off.
    tenant_create_rate: float = Field(default=500.0, ge=0)
    tenant_create_burst: int = Field(default=5_000, ge=1)
    # Jobs a tenant may have pending (scheduled, not yet finished); 0 turns the cap off.
    tenant_max_pending: int = Field(default=1_000_000, ge=0)

    # -- load and neighbours (issue 14; docs/guarantees.md, "Limits") --------------------------------------------
    # One timer step fires at most this many entries, of at most this many request bytes in all, earliest first (round
    # robin across tenants when more is due); the rest stay armed for the next step (decision 0028).
    timer_fire_max_entries: int = Field(default=1_000, ge=1, le=100_000)
    timer_fire_max_bytes: int = Field(default=32 * 1_048_576, ge=1_048_576)
    # Deliveries per second a tenant's occurrences may fire at, applied by the timer; an occurrence over it is
    # delayed (never dropped) and says so. 0 turns the budget off.
    tenant_delivery_rate: float = Field(default=0.0, ge=0)
    # Active schedules (QuedUp scheduled jobs and Recuro crons) per tenant; 0 turns the cap off.
    tenant_max_crons: int = Field(default=1_000, ge=0)
    # Occurrences per second a tenant's active schedules may ask for in all (each counted at its shortest
    # interval); 0 turns the cap off.
    tenant_max_schedule_rate: float = Field(default=100.0, ge=0)
    # Recuro queues per tenant; 0 turns the cap off.
    tenant_max_queues: int = Field(default=1_000, ge=0)
    # The projector lowers its own CPU priority by this much (nice): where it shares CPUs with the timer and the
    # executors, a burst's deliveries go first and the read models catch up after. 0 keeps the default priority.
    projector_nice: int = Field(default=10, ge=0, le=19)
    # JSON request bodies nested deeper than this are refused with a 422.
    max_json_depth: int = Field(default=64, ge=2, le=1_000)

    # -- executor admission (issue 14, decision 0029) ------------------------------------------------------------
    # Due records one executor holds unfinished (waiting for their instant, a host or tenant slot, or in flight), in
    # count and in bytes of their records; past either it reads no further in the log until it is under again.
    # 200,000 holds a burst of 100,000 at one instant with room to spare (~1 KB each in RAM, decision 0029), so a
    # neighbour's records behind it are still read and admitted by their share.
    executor_max_parked: int = Field(default=200_000, ge=1)
    executor_max_parked_bytes: int = Field(default=256 * 1_048_576, ge=1_048_576)

    # -- read-your-writes (issue 15, decision 0035) --------------------------------------------------------------
    # How long a read waits for the projector to apply the writes it must show (the positions in its
    # X-Chronohook-Position header, else its tenant's last write through any API process); past it, the read answers
    # what is there with X-Chronohook-Stale: true. 0: never wait (check once).
    read_your_writes_wait_s: float = Field(default=2.0, ge=0, le=30)

    # -- chronohook dev without surprises (issue 16, decision 0037) ----------------------------------------------
    # Set by `chronohook dev` for its ingest children, never by hand: the API socket it bound (after checking the port
    # is free) and passed down, so the port stays the stack's across restarts and no second stack can share it.
    api_socket_fd: int | None = Field(default=None, ge=0)

    # -- Kafka clusters as they are run (issue 16, Deliver 1; docs/security.md, "Kafka transport security") -------
    # How every client (services, replay, benches) connects: chronohook/kafka/config.py connection_config. Unset,
    # librdkafka's default applies (PLAINTEXT, no SASL). A named setting wins over the same key in the properties file.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] | None = None
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI"] | None = None
    kafka_sasl_username: str | None = None
    # Never logged nor printed (SecretStr); only the client config built at connect time holds the plain text.
    kafka_sasl_password: SecretStr | None = None
    # PEM files: the CA that signed the brokers' certificates; this client's certificate and key (mutual TLS).
    kafka_ssl_ca_location: Path | None = None
    kafka_ssl_certificate_location: Path | None = None
    kafka_ssl_key_location: Path | None = None
    kafka_ssl_key_password: SecretStr | None = None
    # A client properties file in Kafka's own format (key=value, # comments) with librdkafka's property names, for
    # everything else (chronohook/kafka/properties.py); read and checked at start.
    kafka_properties: Path | None = None
    # Replicas of each topic chronohook creates; unset, min(3, brokers in the cluster) read from its metadata.
    # Existing topics are left as they are (a warning names one with fewer replicas than this).
    replication_factor: int | None = Field(default=None, ge=1, le=32)
    # min.insync.replicas of each topic chronohook creates; unset, the replication factor - 1 (at least 1).
    min_insync_replicas: int | None = Field(default=None, ge=1, le=32)

    @field_validator("kafka_properties")
    @classmethod
    def _properties_file(cls, value: Path | None) -> Path | None:
        # Read and checked at start: a missing file or a Java-only key stops the process with the line to fix.
        if value is not None:
            read_properties(value)
        return value

    @model_validator(mode="after")
    def _replicas(self) -> Settings:
        rf, misr = self.replication_factor, self.min_insync_replicas
        if rf is not None and misr is not None and misr > rf:
            raise ValueError(
                f"CHRONOHOOK_MIN_INSYNC_REPLICAS ({misr}) exceeds CHRONOHOOK_REPLICATION_FACTOR ({rf}): no write "
                "could ever be acknowledged"
            )
        return self

    @field_validator("egress_allow")
    @classmethod
    def _cidr_list(cls, value: str) -> str:
        # Checked at start: a typo here must stop the process, not turn every later create into an error. (Parsed
        # here with ipaddress alone: every process reads settings, and only the senders need the outbound room.)
        for entry in filter(None, (part.strip() for part in value.split(","))):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"CHRONOHOOK_EGRESS_ALLOW: {entry!r} is not a CIDR network") from exc
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'chronohook.db').resolve()}"

    @property
    def timer_state_dir(self) -> Path:
        """The timer's local copies of its changelog partitions (caches: rebuilt from the changelog when lost)."""
        return self.data_dir / "timer" / self.topic_prefix

    def timer_store_dir(self, node_id: int) -> Path:
        """One timer's own files, by its leased number: two timers sharing a data directory never write one file, and
        a timer restarted under its number finds its own."""
        return self.timer_state_dir / f"node-{node_id}"

    def topic(self, name: str) -> str:
        return topic_name(self.topic_prefix, name)


def load_settings() -> Settings:
    """Build the process's settings from the environment; call once, at start."""
    return Settings()
