"""Broker, topic, producer and consumer record-size limits come from one place (schemas/topics.py) and agree."""

from __future__ import annotations

from pathlib import Path

import yaml

from chronohook.broker import BROKER_LIMITS, REPO_ROOT, server_properties
from chronohook.kafka.config import consumer_config, producer_config
from chronohook.settings import Settings
from schemas.topics import (
    CHANGELOG_CONFIG,
    DEAD_RECORDS_CONFIG,
    LOG_CONFIG,
    MAX_EVENT_BYTES,
    MAX_MESSAGE_BYTES,
    RESULT_ALLOWANCE_BYTES,
    TOPIC_MAX_MESSAGE_BYTES,
)


def test_each_limit_sits_above_the_one_before_it() -> None:
    # Given the clients' configs and the broker's limits
    settings = Settings(data_dir=Path("/tmp/unused"))
    producer = producer_config(settings)
    consumer = consumer_config(settings, "g")

    # Then an event fits a producer's record, a record fits every topic and the broker, and consumers fetch it whole
    assert RESULT_ALLOWANCE_BYTES < MAX_EVENT_BYTES < producer["message.max.bytes"] == MAX_MESSAGE_BYTES
    for config in (LOG_CONFIG, CHANGELOG_CONFIG, DEAD_RECORDS_CONFIG):
        assert int(config["max.message.bytes"]) == TOPIC_MAX_MESSAGE_BYTES > MAX_MESSAGE_BYTES
    assert BROKER_LIMITS["message.max.bytes"] == TOPIC_MAX_MESSAGE_BYTES
    assert BROKER_LIMITS["replica.fetch.max.bytes"] >= BROKER_LIMITS["message.max.bytes"]
    assert consumer["max.partition.fetch.bytes"] >= TOPIC_MAX_MESSAGE_BYTES
    assert consumer["fetch.max.bytes"] >= consumer["max.partition.fetch.bytes"]
    # librdkafka refuses a config whose receive limit is not above the fetch limit by at least 512 bytes
    assert consumer["receive.message.max.bytes"] >= consumer["fetch.max.bytes"] + 512


def test_the_embedded_broker_and_docker_compose_set_the_same_limits() -> None:
    # Given the embedded broker's properties and the compose file's Kafka environment
    props = dict(
        line.split("=", 1)
        for line in server_properties(9092, 9093, Path("/tmp/x")).splitlines()
        if "=" in line and not line.startswith("#")
    )
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    env = compose["services"]["kafka"]["environment"]

    # Then both carry every broker limit, with the same value
    for name, value in BROKER_LIMITS.items():
        assert int(props[name]) == value
        assert int(env["KAFKA_" + name.upper().replace(".", "_")]) == value
