"""One settings object per process, read from ``CHRONOHOOK_*`` variables once at start and passed in."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from chronohook.kafka.properties import read_properties
from chronohook.logs import LogFormat, LogLevel
from schemas.topics import DEFAULT_BOOTSTRAP, DEFAULT_PARTITIONS, DEFAULT_PREFIX, topic_name


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHRONOHOOK_", frozen=True, extra="ignore")

    # Every field says what it does in its description: docs/settings.md is generated from them
    # (`python -m chronohook.settings_doc`; tests/unit/test_settings_doc.py fails while one lacks a description).
    api_host: str = Field(
        default="127.0.0.1", description="The address the ingest (the HTTP API) listens on; `0.0.0.0`: every interface."
    )
    api_port: int = Field(default=8000, ge=0, le=65535, description="The port the ingest listens on.")
    data_dir: Path = Field(
        default=Path(".chronohook"),
        description="This machine's state: the SQLite database (unless `CHRONOHOOK_DATABASE_URL` names another), the "
        "dev token, the embedded broker's data and the timer's files (`<data dir>/timer/<prefix>/`).",
    )
    kafka_bootstrap: str = Field(
        default=DEFAULT_BOOTSTRAP,
        description="Kafka's bootstrap servers (`host:port`, comma-separated). `chronohook dev` starts a local broker "
        "here when none answers and the address is local.",
    )
    kafka_controller_port: int = Field(
        default=9093,
        ge=1,
        le=65535,
        description="The controller port of the embedded broker `chronohook dev` starts; checked free first, a busy "
        "one is one line naming it (decision 0037).",
    )
    database_url: str | None = Field(
        default=None,
        description="The database of the read models and tokens, as an SQLAlchemy URL (e.g. "
        "`postgresql+psycopg://user:pass@host/db`); unset: SQLite, `<data dir>/chronohook.db`.",
    )
    topic_prefix: str = Field(
        default=DEFAULT_PREFIX,
        description="Topic names are `<prefix>.job-events`, `<prefix>.timer-state`, `<prefix>.dead-records` and "
        "`<prefix>.queue-settings`: two stacks on one Kafka cluster need two prefixes.",
    )
    partitions: int = Field(
        default=DEFAULT_PARTITIONS,
        ge=1,
        le=1024,
        description="Partitions of each topic chronohook creates (a topic that exists is left as it is).",
    )
    node_id: int = Field(
        default=0,
        ge=0,
        le=63,
        # Read only when set (the 0 is never used as such): the reference says "unset".
        json_schema_extra={"doc_default": "unset"},
        description="The node id (0-63) an ingest process asks to lease for its integer ids, and the number a timer "
        "process asks to lease for its transactional id (chronohook/store/leases.py, each in its own space). Unset, it "
        "leases a free one; set, start-up fails while another live process holds it (decision 0013).",
    )
    api_workers: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Ingest processes `chronohook dev` runs on the one API port (SO_REUSEPORT); each leases its own "
        "node id.",
    )
    executor_processes: int = Field(
        default=3,
        ge=1,
        le=64,
        description="Executor processes `chronohook dev` runs, one consumer group. One Python process tops out near "
        "one core (~1,700 deliveries/s measured); each takes whole partitions, so one per partition (3 by default) "
        "spreads a burst evenly (decision 0036).",
    )
    group_instance_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=249,
        description="Static consumer group membership (`group.instance.id`): a process restarted after a crash takes "
        "its partitions back at once instead of after its dead predecessor's session timeout. Must be unique per "
        "process in a group (two processes with one id fence each other), so it has no default; `chronohook dev`'s "
        "supervisor gives each child its own.",
    )
    executor_concurrency: int = Field(
        default=256, ge=1, le=10_000, description="Requests in flight per executor process."
    )
    default_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=900,
        description="Timeout, in seconds, of the requests the executor sends of its own accord: callbacks and alerts "
        "(a job's own request has its job's timeout).",
    )
    response_body_limit: int = Field(
        default=16_384, ge=0, description="Bytes of a response's body a run keeps (the rest is not read)."
    )
    timer_lead_ms: int = Field(
        default=250,
        ge=0,
        le=5_000,
        description="The timer hands a job to the executors this early; the executor waits out the rest. It hides the "
        "timer's transaction commit and the read_committed hand-over (~100 ms measured under load; decision 0006). "
        "While timer steps are long (a burst) the lead grows to twice a step's work, at most 2 s, and shrinks back "
        "after (decision 0036).",
    )
    timer_near_window_s: float = Field(
        default=60.0,
        ge=1.0,
        le=3_600.0,
        description="The timer keeps in RAM only the entries waking within this window (decision 0026); later ones "
        "wait on disk, under `<data dir>/timer/<topic prefix>/`, and are loaded as the window slides, every refill "
        "interval.",
    )
    timer_refill_interval_s: float = Field(
        default=2.0,
        gt=0.0,
        le=60.0,
        description="How often the timer loads from disk the entries its sliding near window "
        "(`CHRONOHOOK_TIMER_NEAR_WINDOW_S`) reaches.",
    )
    max_request_bytes: int = Field(
        default=1_048_576,
        ge=1_024,
        description="The largest request body the API reads; a larger one is a 413, refused before it is read.",
    )
    max_batch_request_bytes: int = Field(
        default=16_777_216,
        ge=1_024,
        description="The largest body of `POST /api/jobs/batch`, which carries up to 1,000 jobs.",
    )
    log_level: LogLevel = Field(
        default="INFO",
        description="The level of every process's log (`DEBUG`, `INFO`, `WARNING`, `ERROR`, `CRITICAL`; any case), "
        "written to stderr. Another value stops start-up with one line naming the choices.",
    )

    # -- safety (docs/security.md) ---------------------------------------------------------------------------------
    egress_allow: str = Field(
        default="",
        description="CIDR networks outbound requests may reach although the egress guard refuses their class "
        "(loopback, private, link-local, ...); comma-separated, empty allows none. `chronohook dev` sets loopback "
        "(`127.0.0.0/8,::1/128`) when the variable is unset.",
    )
    host_concurrency: int = Field(
        default=32,
        ge=1,
        le=10_000,
        description="Requests in flight to one host per executor process; scarce slots are shared across tenants "
        "(decision 0011).",
    )
    tenant_create_rate: float = Field(
        default=500.0,
        ge=0,
        description="Creations per tenant per second, per ingest process (a token bucket holding "
        "`CHRONOHOOK_TENANT_CREATE_BURST`; a batch counts each job); past it a 429 with `Retry-After`. 0 turns the "
        "limit off (decision 0014).",
    )
    tenant_create_burst: int = Field(
        default=5_000,
        ge=1,
        description="The size of the token bucket of `CHRONOHOOK_TENANT_CREATE_RATE`: creations a tenant may make at "
        "once.",
    )
    tenant_max_pending: int = Field(
        default=1_000_000,
        ge=0,
        description="Jobs a tenant may have pending (scheduled, not yet finished; read model, ~1 s stale); past it a "
        "429. 0 turns the cap off.",
    )

    # -- load and neighbours (issue 14; docs/guarantees.md, "Limits") --------------------------------------------
    timer_fire_max_entries: int = Field(
        default=1_000,
        ge=1,
        le=100_000,
        description="One timer step fires at most this many entries, earliest first (round robin across tenants when "
        "more is due); the rest stay armed for the next step (decision 0028).",
    )
    timer_fire_max_bytes: int = Field(
        default=32 * 1_048_576,
        ge=1_048_576,
        description="One timer step fires entries of at most this many request bytes in all; the rest stay armed for "
        "the next step (decision 0028).",
    )
    tenant_delivery_rate: float = Field(
        default=0.0,
        ge=0,
        description="Deliveries per second a tenant's occurrences may fire at, applied by the timer; an occurrence "
        "over it is delayed (never dropped) and says so (`planned_at`, `delayed_by_ms`). 0 turns the budget off.",
    )
    tenant_max_crons: int = Field(
        default=1_000,
        ge=0,
        description="Active schedules (QuedUp scheduled jobs and Recuro crons) per tenant; one more is a 422 naming "
        "the setting. 0 turns the cap off (decision 0030).",
    )
    tenant_max_schedule_rate: float = Field(
        default=100.0,
        ge=0,
        description="Occurrences per second a tenant's active schedules may ask for in all (each counted at its "
        "shortest interval); past it a 422 naming the setting. 0 turns the cap off.",
    )
    tenant_max_queues: int = Field(
        default=1_000, ge=0, description="Recuro queues per tenant; past it a 422. 0 turns the cap off."
    )
    projector_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="The projector lowers its own CPU priority by this much (nice): where it shares CPUs with the "
        "timer and the executors, a burst's deliveries go first and the read models catch up after. 0 keeps the "
        "default priority.",
    )
    max_json_depth: int = Field(
        default=64,
        ge=2,
        le=1_000,
        description="JSON request bodies nested deeper than this are refused with a 422 (decision 0031).",
    )

    # -- executor admission (issue 14, decision 0029) ------------------------------------------------------------
    executor_max_parked: int = Field(
        default=200_000,
        ge=1,
        description="Due records one executor holds unfinished (waiting for their instant, a host or tenant slot, or "
        "in flight); past it, or past `CHRONOHOOK_EXECUTOR_MAX_PARKED_BYTES`, it reads no further in the log until "
        "it is under again (later jobs run late, none is lost). 200,000 holds a burst of 100,000 at one instant with "
        "room to spare (~1 KB each in RAM), so a neighbour's records behind it are still read and admitted by their "
        "share.",
    )
    executor_max_parked_bytes: int = Field(
        default=256 * 1_048_576,
        ge=1_048_576,
        description="Bytes of the records one executor holds unfinished; past it, it reads no further in the log "
        "until it is under again (see `CHRONOHOOK_EXECUTOR_MAX_PARKED`).",
    )

    # -- read-your-writes (issue 15, decision 0035) --------------------------------------------------------------
    read_your_writes_wait_s: float = Field(
        default=2.0,
        ge=0,
        le=30,
        description="How long a read waits for the projector to apply the writes it must show (the positions in its "
        "X-Chronohook-Position header, else its tenant's last write through any API process); past it, the read "
        "answers what is there with X-Chronohook-Stale: true. 0: never wait (check once).",
    )

    # -- chronohook dev without surprises (issue 16, decision 0037) ----------------------------------------------
    api_socket_fd: int | None = Field(
        default=None,
        ge=0,
        description="Internal: set by `chronohook dev` for its ingest workers, never by hand. The API socket it bound "
        "(after checking the port is free) and passed down, so the port stays the stack's across restarts and no "
        "second stack can share it.",
    )

    # -- Kafka clusters as they are run (issue 16, Deliver 1; docs/security.md, "Kafka transport security") -------
    # How every client (services, replay, benches) connects: chronohook/kafka/config.py connection_config. A named
    # setting wins over the same key in the properties file.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] | None = Field(
        default=None,
        description="How every Kafka client chronohook runs connects: `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or "
        "`SASL_SSL`. Unset: librdkafka's default (PLAINTEXT).",
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI"] | None = Field(
        default=None, description="The SASL mechanism of every Kafka client."
    )
    kafka_sasl_username: str | None = Field(default=None, description="The SASL user name of every Kafka client.")
    kafka_sasl_password: SecretStr | None = Field(
        default=None,
        description="The SASL password; never logged nor printed (only the client config built at connect time holds "
        "it in plain text).",
    )
    kafka_ssl_ca_location: Path | None = Field(
        default=None, description="PEM file of the CA that signed the brokers' certificates (unset: the system's CAs)."
    )
    kafka_ssl_certificate_location: Path | None = Field(
        default=None, description="This client's PEM certificate, for brokers that require mutual TLS."
    )
    kafka_ssl_key_location: Path | None = Field(
        default=None, description="This client's PEM private key, for brokers that require mutual TLS."
    )
    kafka_ssl_key_password: SecretStr | None = Field(
        default=None, description="The password of `CHRONOHOOK_KAFKA_SSL_KEY_LOCATION`, if it has one."
    )
    kafka_properties: Path | None = Field(
        default=None,
        description="A client properties file in Kafka's own format (`key=value`, `#` comments) with librdkafka's "
        "property names, for every other client setting; read and checked at start (a key chronohook sets itself, "
        "`bootstrap.servers` or a Java-only name stops start-up with one line naming it).",
    )
    replication_factor: int | None = Field(
        default=None,
        ge=1,
        le=32,
        description="Replicas of each topic chronohook creates; unset, min(3, brokers in the cluster). Existing "
        "topics are left as they are (a warning names one with fewer replicas).",
    )
    min_insync_replicas: int | None = Field(
        default=None,
        ge=1,
        le=32,
        description="`min.insync.replicas` of each topic chronohook creates; unset, the replication factor - 1 (at "
        "least 1).",
    )

    # -- logs and tracing (issue 17, decision 0043) --------------------------------------------------------------
    log_format: LogFormat = Field(
        default="text",
        description="`text`: `time LEVEL logger: message` lines; `json`: one JSON object per line (`ts`, `level`, "
        "`logger`, `msg`, `service`, `pid`, the line's own fields, `exc` for a traceback) for every line every "
        "process writes, uvicorn's and librdkafka's included. Credentials are masked in either (decision 0043).",
    )
    delivery_log_level: Literal["INFO", "DEBUG"] = Field(
        default="INFO",
        description="The level of the executor's line per delivery outcome (job id, queue, attempt, status or error, "
        "duration, lateness); `DEBUG` keeps them out of an `INFO` log.",
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="An OpenTelemetry collector's OTLP/HTTP address (e.g. `http://127.0.0.1:4318`): each process "
        "exports its spans to `<endpoint>/v1/traces`, and one trace follows a job from its API call through its "
        "`JobDue`, delivery and callback. Unset: no tracing at all.",
    )
    trace_sample_ratio: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="The share of API calls traced when `CHRONOHOOK_OTLP_ENDPOINT` is set (parent-based: the rest "
        "of a job's trace follows its API call's decision).",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_any_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    # -- metrics and health (issue 17: Prometheus metrics, /readyz that tells the truth; decision 0042) ------------
    metrics_host: str = Field(
        default="127.0.0.1",
        description="The address each timer, executor and projector process serves its `/metrics` and `/livez` on "
        "(the API serves its `/metrics` on the API port). `0.0.0.0` for a Prometheus on another machine.",
    )
    metrics_base_port: int = Field(
        default=9400,
        ge=0,
        le=65_000,
        description="Metrics ports by service: the timer listens on base + 1, the projector on base + 2, the executor "
        "on base + 3 (`chronohook dev`'s executor-N on base + 2 + N). 0: no metrics port (unless "
        "`CHRONOHOOK_METRICS_PORT` names one).",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="This process's own metrics port, over the one `CHRONOHOOK_METRICS_BASE_PORT` gives its service: "
        "set it for each of several executor processes on one machine (`chronohook dev` sets it for its children).",
    )
    metrics_queues: str = Field(
        default="",
        description="Queue names (comma-separated, at most 50) that label the job metrics as themselves; every other "
        "queue is `other`, a job without one `none`. Bounds the labels' cardinality and keeps tenants' queue names off "
        "`/metrics` unless named here.",
    )
    api_metrics_dir: Path | None = Field(
        default=None,
        description="The directory the ingest processes sharing one API port pool their metrics in "
        "(prometheus-client's multiprocess mode), so `/metrics` from any of them counts all. `chronohook dev` makes a "
        "fresh one; when you run several `chronohook serve ingest` yourself, give them one empty directory, emptied "
        "before they start. Unset: each process counts its own.",
    )
    heartbeat_interval_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="How often the timer, executor and projector record in the database that their main loop is "
        "making progress (the rows `/readyz` reads).",
    )
    heartbeat_stale_s: float = Field(
        default=15.0,
        gt=0,
        le=3600,
        description="A service process whose loop has not made progress for this long makes `/readyz` answer 503, "
        "naming it (and its `/livez` too); SIGSTOP counts.",
    )
    heartbeat_gone_s: float = Field(
        default=120.0,
        gt=0,
        le=86_400,
        description="A heartbeat row not renewed for this long is a process gone (crashed, replaced), no longer a "
        "stuck one: `/readyz` stops counting it. A cleanly stopped process removes its row at once.",
    )

    # -- secrets at rest (issue 17, decision 0044) --------------------------------------------------------------
    secret_key: SecretStr | None = Field(
        default=None,
        description="The key-encryption key sensitive request headers are sealed with in the job log and the read "
        "models (32 bytes in URL-safe base64: `chronohook secrets generate-key`). Needed by every ingest and executor: "
        "one started without it refuses to start (unless `CHRONOHOOK_SECRETS_IN_CLEAR`); `chronohook dev` keeps one in "
        "`<data dir>/secret-key`. To rotate: the new key here, the old one in `CHRONOHOOK_SECRET_KEYS_RETIRED`.",
    )
    secret_keys_retired: SecretStr | None = Field(
        default=None,
        description="Earlier secret keys, comma-separated: they no longer seal but still open what events sealed "
        "under them carry (docs/security.md, key rotation). Keep one as long as the job log or a pending job may hold "
        "a value it sealed.",
    )
    secrets_in_clear: bool = Field(
        default=False,
        description="`true`: ingest and executor start without `CHRONOHOOK_SECRET_KEY` and sensitive request headers "
        "are stored in clear (still masked in every answer), with a warning at start. Not for production.",
    )

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
