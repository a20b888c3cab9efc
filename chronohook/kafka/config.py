"""Client settings every service shares.

Every client (producer, consumer, admin; services, replay, benches) starts from ``connection_config``: the brokers,
then the client properties file (``CHRONOHOOK_KAFKA_PROPERTIES``), then the named settings (security protocol, SASL,
TLS files), which win over the same key in the file. The file may not set a key chronohook sets itself
(chronohook/kafka/properties.py RESERVED_KEYS): a client's own keys come last and nothing overrides them silently.

Every producer uses librdkafka's ``murmur2_random`` partitioner, the Java client's default, so records keyed by
job id land in the same partition number of every topic, whichever client wrote them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from chronohook.kafka.properties import read_properties
from chronohook.settings import Settings
from schemas.topics import MAX_MESSAGE_BYTES, PARTITIONER, TOPIC_MAX_MESSAGE_BYTES

# -- record size, consumer side: derived from the contract's sizes (schemas/topics.py), like the broker's and the
# producers'. A partition's fetch takes at least one whole batch of the largest size a topic accepts; a fetch
# response holds a few of them; a response frame is the fetch plus librdkafka's required 512 bytes and more.
MAX_PARTITION_FETCH_BYTES = TOPIC_MAX_MESSAGE_BYTES
FETCH_MAX_BYTES = 4 * TOPIC_MAX_MESSAGE_BYTES
RECEIVE_MESSAGE_MAX_BYTES = FETCH_MAX_BYTES + 64 * 1024


# Values never written to a log or a result file (``redacted``): any key naming a password or a secret.
SECRET_MARKERS = ("password", "secret")


def connection_config(settings: Settings) -> dict[str, Any]:
    """How to reach and authenticate to the cluster: the brokers, the properties file, then the named settings."""
    config: dict[str, Any] = {"bootstrap.servers": settings.kafka_bootstrap}
    if settings.kafka_properties is not None:
        config.update(read_properties(settings.kafka_properties))
    named: dict[str, Any] = {
        "security.protocol": settings.kafka_security_protocol,
        "sasl.mechanism": settings.kafka_sasl_mechanism,
        "sasl.username": settings.kafka_sasl_username,
        "sasl.password": _plain(settings.kafka_sasl_password),
        "ssl.ca.location": settings.kafka_ssl_ca_location,
        "ssl.certificate.location": settings.kafka_ssl_certificate_location,
        "ssl.key.location": settings.kafka_ssl_key_location,
        "ssl.key.password": _plain(settings.kafka_ssl_key_password),
    }
    config.update({key: str(value) for key, value in named.items() if value is not None})
    if settings.log_format == "json":
        # librdkafka's own lines through Python's logging (served by each client's poll), so they are JSON too.
        config["logger"] = logging.getLogger("chronohook.librdkafka")
    return config


def _plain(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


def redacted(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` fit for a log line or a result file: every password or secret replaced by ``***``."""
    return {key: "***" if any(m in key.lower() for m in SECRET_MARKERS) else value for key, value in config.items()}


def admin_config(settings: Settings) -> dict[str, Any]:
    return connection_config(settings)


def producer_config(settings: Settings, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        **connection_config(settings),
        "partitioner": PARTITIONER,
        "enable.idempotence": True,
        "acks": "all",
        # 5 ms rather than 2: fewer, fuller produce requests. Measured under single creates with the whole stack:
        # broker CPU 0.65 -> 0.53 ms per created job, creates/s 1,072 -> 1,133, p50 26 -> 25 ms.
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.timeout.ms": 30_000,
        # The contract's record size (schemas/topics.py); topics take MAX_MESSAGE_BYTES plus framing.
        "message.max.bytes": MAX_MESSAGE_BYTES,
    }
    config.update(extra)
    return config


def transactional_producer_config(settings: Settings, transactional_id: str) -> dict[str, Any]:
    # linger.ms=0: a commit waits for lingering batches; measured here, 2 ms of linger made the median commit
    # 29 ms instead of 5 ms, and every due job waits for its transaction's commit.
    return producer_config(
        settings, **{"transactional.id": transactional_id, "transaction.timeout.ms": 60_000, "linger.ms": 0}
    )


def consumer_config(settings: Settings, group_id: str, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        **connection_config(settings),
        "group.id": group_id,
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        # With fetch.min.bytes=1 the broker answers a fetch as soon as any record is readable; this only bounds an
        # idle wait. 5 ms here made three consumer groups poll the broker ~200 times a second each: 0.42 ms of broker
        # CPU per delivered job against 0.21 ms at 100 (decision 0006), with no change in lateness.
        "fetch.wait.max.ms": 100,
        "fetch.min.bytes": 1,
        "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 1_000,
        "max.partition.fetch.bytes": MAX_PARTITION_FETCH_BYTES,
        "fetch.max.bytes": FETCH_MAX_BYTES,
        "receive.message.max.bytes": RECEIVE_MESSAGE_MAX_BYTES,
    }
    if settings.group_instance_id:
        # Static membership: after a kill -9 the restarted process rejoins under the same id and gets its partitions
        # back without waiting out the dead member's session (10 s). Only set when the id is this process's own.
        config["group.instance.id"] = settings.group_instance_id
    config.update(extra)
    return config
