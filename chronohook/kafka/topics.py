"""Topic names and their idempotent creation."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from chronohook.errors import KafkaUnavailable
from chronohook.kafka.config import admin_config
from chronohook.settings import Settings


@dataclass(frozen=True)
class Topics:
    """``events``: the job log, every event of every job. ``timer_state``: the timer's compacted changelog,
    co-partitioned with it."""

    events: str
    timer_state: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Topics:
        return cls(events=settings.topic("job-events"), timer_state=settings.topic("timer-state"))


# The job log is the audit trail and the source for replay: keep it forever. The timer's changelog is
# compacted: only the latest state per job matters.
_LOG_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}
_CHANGELOG_CONFIG = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}


def ensure_topics(settings: Settings, timeout: float = 30.0) -> Topics:
    """Create every topic if missing; existing topics are left as they are."""
    topics = Topics.from_settings(settings)
    admin = AdminClient(admin_config(settings))
    wanted = [
        NewTopic(topics.events, settings.partitions, 1, config=_LOG_CONFIG),
        NewTopic(topics.timer_state, settings.partitions, 1, config=_CHANGELOG_CONFIG),
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
