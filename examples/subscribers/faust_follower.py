"""Follow chronohook's job events with faust-streaming, as typed ``faust.Record``s.

The topic's values are read raw; each is decoded with chronohook's codec (``schemas.decode_event``: validation,
and older ``schema_version`` documents upcast to the current shape), then turned into one of the typed records
below by its ``type``. A record declares only the fields it uses and is built from those alone, so a new version
that adds or replaces other fields does not break it. Types without a record of their own become a ``JobEvent``
(the envelope). A record the codec refuses is logged and skipped.

Two faust defaults are changed for chronohook's log:

* ``read_committed``: faust's aiokafka consumer reads ``read_uncommitted`` unless the app itself runs exactly once,
  and would then show ``JobDue``s from the timer's aborted transactions. ``ReadCommittedApp`` sets it.
* No web server, no leader topic, an in-memory store and a data directory of the caller's choice: a follower
  needs none of faust's own topics (chronohook's broker does not create topics on demand).

Run it (settings from flags, or the environment variables in brackets)::

    python -m examples.subscribers.faust_follower --bootstrap 127.0.0.1:9092 --topic chronohook.job-events \\
        --group my-faust-follower --from earliest

It connects as chronohook's services do, from the same settings (chronohook/settings.py, docs/settings.md):
``CHRONOHOOK_KAFKA_BOOTSTRAP`` (when neither ``--bootstrap`` nor ``FOLLOWER_BOOTSTRAP`` is given),
``CHRONOHOOK_KAFKA_SECURITY_PROTOCOL``, ``CHRONOHOOK_KAFKA_SASL_MECHANISM``, ``CHRONOHOOK_KAFKA_SASL_USERNAME``,
``CHRONOHOOK_KAFKA_SASL_PASSWORD``, ``CHRONOHOOK_KAFKA_SSL_CA_LOCATION`` and, for mutual TLS,
``CHRONOHOOK_KAFKA_SSL_CERTIFICATE_LOCATION``, ``CHRONOHOOK_KAFKA_SSL_KEY_LOCATION``,
``CHRONOHOOK_KAFKA_SSL_KEY_PASSWORD`` (``broker_credentials``). A ``CHRONOHOOK_KAFKA_PROPERTIES`` file is in
librdkafka's names, which faust's aiokafka does not read: the follower refuses to start with one set.

It prints one line per event, like the confluent-kafka follower::

    JobDue rj_244862754729984 2026-11-23T21:49:07.000000+00:00 run=rj_244862754729984:1763934547000:1

See docs/subscribers.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import ssl
import sys
import tempfile
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TransportT

from chronohook.settings import Settings
from schemas import CodecError, decode_event

log = logging.getLogger("examples.faust_follower")

SEEN_IDS = 100_000  # event ids remembered for deduplication (at-least-once delivery repeats some)


# -- typed records: the fields this follower uses ---------------------------------------------------------------


class JobEvent(faust.Record, serializer="json"):
    """The envelope every chronohook event carries; also the record for types this follower has no class for."""

    type: str
    event_id: str
    job_id: str
    tenant: str
    occurred_at: str  # RFC 3339, as on the wire

    def describe(self) -> str:
        return ""


class HttpRequest(faust.Record, serializer="json"):
    method: str
    url: str


class JobCreated(JobEvent):
    """A named job (QuedUp job, Recuro cron)."""

    name: str
    request: HttpRequest
    schedule: str | None = None
    run_at: str | None = None

    def describe(self) -> str:
        return f"name={self.name!r} {self.request.method} {self.request.url}"


class JobPushed(JobEvent):
    """A job pushed onto a Recuro queue (also each retry, as a new job)."""

    queue: str
    request: HttpRequest
    scheduled_at: str
    attempt_number: int = 1

    def describe(self) -> str:
        return f"queue={self.queue} {self.request.method} {self.request.url}"


class JobDue(JobEvent):
    """One attempt is due."""

    run_id: str
    due_at: str
    attempt: int = 1

    def describe(self) -> str:
        return f"run={self.run_id}"


class Outcome(faust.Record, serializer="json"):
    run_id: str
    attempt: int
    duration_ms: float
    response_status: int | None = None


class JobSucceeded(JobEvent):
    outcome: Outcome

    def describe(self) -> str:
        return f"run={self.outcome.run_id} status={self.outcome.response_status}"


class JobFailed(JobEvent):
    outcome: Outcome
    failure_reason: str
    error_message: str | None = None

    def describe(self) -> str:
        return f"run={self.outcome.run_id} reason={self.failure_reason}"


class JobDeleted(JobEvent):
    """The job is gone."""


RECORDS: Mapping[str, type[JobEvent]] = {
    cls.__name__: cls for cls in (JobCreated, JobPushed, JobDue, JobSucceeded, JobFailed, JobDeleted)
}


def _pick(cls: type[faust.Record], doc: Mapping[str, Any]) -> dict[str, Any]:
    """The document's values for the record's own fields, nested records built alike; the rest is left out."""
    values: dict[str, Any] = {}
    for name, kind in cls._options.fields.items():
        if name not in doc:
            continue  # a field the record declares with a default, absent from this version
        value = doc[name]
        if isinstance(kind, type) and issubclass(kind, faust.Record) and isinstance(value, Mapping):
            value = kind(**_pick(kind, value))
        values[name] = value
    return values


def to_record(value: bytes) -> JobEvent:
    """Bytes from the topic -> a typed record, by ``type``. Raises ``CodecError`` for what the codec refuses."""
    event = decode_event(value)
    doc = event.model_dump(mode="json")
    cls = RECORDS.get(event.type, JobEvent)
    return cls(**_pick(cls, doc))


def line_of(record: JobEvent) -> str:
    extra = record.describe()
    return f"{record.type} {record.job_id} {record.occurred_at}" + (f" {extra}" if extra else "")


# -- the app ----------------------------------------------------------------------------------------------------


class _ReadCommittedConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # faust reads read_uncommitted unless the app runs exactly once (its own transactions); chronohook's timer
        # writes in transactions, whose aborted records a follower must not see. aiokafka reads this at start().
        consumer._isolation_level = "read_committed"
        return consumer


class _ReadCommittedConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ReadCommittedConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _ReadCommittedTransport(faust_aiokafka.Transport):
    Consumer: ClassVar[Any] = _ReadCommittedConsumer


class ReadCommittedApp(faust.App):
    """A faust app whose consumer reads ``read_committed``."""

    def _new_transport(self) -> TransportT:
        return _ReadCommittedTransport(self.conf.broker_consumer, self)


class Deduper:
    """The last ``size`` event ids: a repeat of a recent event is dropped."""

    def __init__(self, size: int = SEEN_IDS) -> None:
        self._size = size
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first_time(self, event_id: str) -> bool:
        if event_id in self._seen:
            return False
        self._seen[event_id] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return True


class ConnectionRefused(Exception):
    """The connection settings ask for something this follower cannot do with faust's aiokafka."""


def _tls_context(settings: Settings) -> ssl.SSLContext:
    """The brokers' CA (else the system's), and this client's certificate and key for mutual TLS when given."""
    ca = settings.kafka_ssl_ca_location
    context = ssl.create_default_context(cafile=str(ca) if ca else None)
    if settings.kafka_ssl_certificate_location is not None:
        key_password = settings.kafka_ssl_key_password
        context.load_cert_chain(
            str(settings.kafka_ssl_certificate_location),
            str(settings.kafka_ssl_key_location) if settings.kafka_ssl_key_location else None,
            key_password.get_secret_value() if key_password else None,
        )
    return context


def broker_credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """faust's credentials from chronohook's connection settings, so the follower reaches the cluster the services
    reach (chronohook/kafka/config.py builds the same from them for librdkafka). None: PLAINTEXT."""
    if settings.kafka_properties is not None:
        raise ConnectionRefused(
            "CHRONOHOOK_KAFKA_PROPERTIES is in librdkafka's names, which faust's aiokafka does not read: give the "
            "connection as CHRONOHOOK_KAFKA_SECURITY_PROTOCOL, _SASL_* and _SSL_* settings, or use "
            "confluent_follower.py --properties"
        )
    protocol = settings.kafka_security_protocol or "PLAINTEXT"
    if protocol == "PLAINTEXT":
        return None
    context = _tls_context(settings) if protocol in ("SSL", "SASL_SSL") else None
    if protocol == "SSL":
        assert context is not None
        return faust.SSLCredentials(context)
    mechanism = settings.kafka_sasl_mechanism or "PLAIN"
    if mechanism not in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        raise ConnectionRefused(f"CHRONOHOOK_KAFKA_SASL_MECHANISM={mechanism}: this example speaks PLAIN and SCRAM")
    password = settings.kafka_sasl_password
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=password.get_secret_value() if password else None,
        ssl_context=context,
        mechanism=mechanism,
    )


def make_app(
    bootstrap: str,
    topic: str,
    group: str,
    start: str,
    datadir: str,
    credentials: faust.types.auth.CredentialsT | None = None,
) -> faust.App:
    app = ReadCommittedApp(
        group,
        # One URL per bootstrap server, as faust takes a cluster.
        broker=[f"kafka://{server.strip()}" for server in bootstrap.split(",") if server.strip()],
        broker_credentials=credentials,
        datadir=datadir,
        store="memory://",
        web_enabled=False,
        topic_disable_leader=True,
        topic_allow_declare=False,  # chronohook's topics exist; faust creates none of its own here
        consumer_auto_offset_reset=start,
        autodiscover=False,
    )
    # Raw bytes, decoded by the codec in the agent: the one place that knows every type and version.
    source = app.topic(topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    dedupe = Deduper()

    @app.agent(source)
    async def follow(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            value = event.value
            try:
                if not isinstance(value, bytes):
                    raise CodecError("no value")
                record = to_record(value)
            except CodecError as exc:
                # Never a reason to stop: log where it sits; faust commits past it with the rest.
                msg = event.message
                log.warning(
                    "skipped a record I cannot decode at %s[%s]@%s: %s",
                    msg.topic,
                    msg.partition,
                    msg.offset,
                    str(exc)[:300],
                )
                yield None
                continue
            if dedupe.first_time(record.event_id):
                print(line_of(record), flush=True)
            yield None

    return app


def parse_args(argv: Sequence[str] | None = None, settings: Settings | None = None) -> argparse.Namespace:
    env = os.environ.get
    bootstrap = env("FOLLOWER_BOOTSTRAP") or (settings or Settings()).kafka_bootstrap
    parser = argparse.ArgumentParser(description="Print chronohook's job events as typed faust records.")
    parser.add_argument("--bootstrap", default=bootstrap, help="[FOLLOWER_BOOTSTRAP, else CHRONOHOOK_KAFKA_BOOTSTRAP]")
    parser.add_argument("--topic", default=env("FOLLOWER_TOPIC", "chronohook.job-events"), help="[FOLLOWER_TOPIC]")
    parser.add_argument("--group", default=env("FOLLOWER_GROUP", "chronohook-faust-follower"), help="[FOLLOWER_GROUP]")
    parser.add_argument(
        "--from",
        dest="start",
        choices=("earliest", "latest"),
        default=env("FOLLOWER_FROM", "latest"),
        help="[FOLLOWER_FROM]",
    )
    parser.add_argument("--datadir", default=env("FOLLOWER_DATADIR"), help="faust's data dir; default: a temp dir")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    # The services' connection settings (CHRONOHOOK_KAFKA_*), read once, here.
    settings = Settings()
    args = parse_args(argv, settings)
    try:
        credentials = broker_credentials(settings)
    except ConnectionRefused as exc:
        print(f"faust_follower: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="faust-follower-") as tmp:
        app = make_app(args.bootstrap, args.topic, args.group, args.start, args.datadir or tmp, credentials)
        # faust's worker: runs until SIGTERM or SIGINT, then stops the agent, commits and leaves the group.
        # The events go to stdout; faust's own log to stderr.
        worker = faust.Worker(app, loglevel="INFO", quiet=True, redirect_stdouts=False)
        worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
