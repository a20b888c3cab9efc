"""Topic names and their idempotent creation."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from chronohook.errors import KafkaMisconfigured, KafkaUnavailable
from chronohook.kafka.config import admin_config
from chronohook.settings import Settings
from schemas.topics import (
    CHANGELOG_CONFIG,
    DEAD_RECORDS,
    DEAD_RECORDS_CONFIG,
    EVENTS,
    LOG_CONFIG,
    QUEUE_SETTINGS,
    QUEUE_SETTINGS_CONFIG,
    TIMER_STATE,
)

log = logging.getLogger("chronohook.kafka")


@dataclass(frozen=True)
class Topics:
    """``events``: the job log, every event of every job. ``timer_state``: the timer's compacted changelog,
    co-partitioned with it. ``dead_records``: records a consumer could not decode or apply, set aside.
    ``queue_settings``: each Recuro queue's latest settings, compacted, read whole by every timer (decision 0015)."""

    events: str
    timer_state: str
    dead_records: str
    queue_settings: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Topics:
        return cls(
            events=settings.topic(EVENTS),
            timer_state=settings.topic(TIMER_STATE),
            dead_records=settings.topic(DEAD_RECORDS),
            queue_settings=settings.topic(QUEUE_SETTINGS),
        )


# A cluster of this many brokers or more gets this many replicas of each topic by default: one broker can be lost
# (min.insync.replicas = 2 still acknowledged) and one more can fail without losing a record.
DEFAULT_MAX_REPLICATION = 3


def replication_for(brokers: int, replication_factor: int | None, min_insync: int | None) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) for a topic created on a cluster of ``brokers``.

    Unset, the factor is min(3, brokers) and min.insync.replicas the factor - 1, at least 1: with 3 replicas a write
    is acknowledged by 2, so one broker can stop (a restart, a kill) without refusing writes or losing one.
    """
    rf = replication_factor if replication_factor is not None else max(1, min(DEFAULT_MAX_REPLICATION, brokers))
    if rf > brokers:
        raise KafkaMisconfigured(
            f"CHRONOHOOK_REPLICATION_FACTOR is {rf} but the cluster has {brokers} broker(s); set it to {brokers} or "
            "fewer, or add brokers"
        )
    isr = min_insync if min_insync is not None else max(1, rf - 1)
    if isr > rf:
        raise KafkaMisconfigured(
            f"CHRONOHOOK_MIN_INSYNC_REPLICAS is {isr} but topics get {rf} replica(s): no write could be acknowledged"
        )
    return rf, isr


def ensure_topics(settings: Settings, timeout: float = 30.0) -> Topics:
    """Create every topic if missing, replicated as the settings and the cluster's size say; existing topics are left
    as they are (a warning names one with fewer replicas than a new one would get)."""
    topics = Topics.from_settings(settings)
    admin = AdminClient(admin_config(settings))
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise KafkaUnavailable(f"could not read the cluster's metadata: {exc}") from exc
    rf, isr = replication_for(len(metadata.brokers), settings.replication_factor, settings.min_insync_replicas)
    replicated = {"min.insync.replicas": str(isr)}
    wanted = [
        NewTopic(topics.events, settings.partitions, rf, config=LOG_CONFIG | replicated),
        NewTopic(topics.timer_state, settings.partitions, rf, config=CHANGELOG_CONFIG | replicated),
        NewTopic(topics.dead_records, settings.partitions, rf, config=DEAD_RECORDS_CONFIG | replicated),
        NewTopic(topics.queue_settings, settings.partitions, rf, config=QUEUE_SETTINGS_CONFIG | replicated),
    ]
    for topic in wanted:
        existing = metadata.topics.get(topic.topic)
        if existing is not None and existing.partitions:
            replicas = min(len(p.replicas) for p in existing.partitions.values())
            if replicas < rf:
                log.warning(
                    "topic %s exists with %d replica(s), fewer than %d; left as it is", topic.topic, replicas, rf
                )
    futures = admin.create_topics(wanted, operation_timeout=timeout, request_timeout=timeout)
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise KafkaUnavailable(f"could not create topic {name}: {exc}") from exc
    return topics


def broker_answers(bootstrap: str, timeout: float = 2.0, connection: Mapping[str, Any] | None = None) -> bool:
    """True when a Kafka broker lists topics at ``bootstrap`` within ``timeout``; ``connection``: how to reach it
    (connection_config: TLS, SASL), else plaintext."""
    # log_level 0: a refused connection is the expected answer here, not worth a log line.
    config = {**(connection or {}), "bootstrap.servers": bootstrap}
    admin = AdminClient({**config, "socket.connection.setup.timeout.ms": 1000, "log_level": 0})
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException:
        return False
    return True
