"""Topic names and their idempotent creation."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from chronohook.errors import KafkaUnavailable
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


def ensure_topics(settings: Settings, timeout: float = 30.0) -> Topics:
    """Create every topic if missing; existing topics are left as they are."""
    topics = Topics.from_settings(settings)
    admin = AdminClient(admin_config(settings))
    wanted = [
        NewTopic(topics.events, settings.partitions, 1, config=LOG_CONFIG),
        NewTopic(topics.timer_state, settings.partitions, 1, config=CHANGELOG_CONFIG),
        NewTopic(topics.dead_records, settings.partitions, 1, config=DEAD_RECORDS_CONFIG),
        NewTopic(topics.queue_settings, settings.partitions, 1, config=QUEUE_SETTINGS_CONFIG),
    ]
    futures = admin.create_topics(wanted, operation_timeout=timeout, request_timeout=timeout)
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise KafkaUnavailable(f"could not create topic {name}: {exc}") from exc
    return topics


def broker_answers(bootstrap: str, timeout: float = 2.0) -> bool:
    """True when a Kafka broker lists topics at ``bootstrap`` within ``timeout``."""
    # log_level 0: a refused connection is the expected answer here, not worth a log line.
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 1000, "log_level": 0})
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException:
        return False
    return True
