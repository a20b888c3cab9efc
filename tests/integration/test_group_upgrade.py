"""Group ids carry the topic prefix; upgrading from the unprefixed ids keeps the committed offsets (real broker).

Before, every stack on a broker used ``chronohook-executor``, ``chronohook-timer``...; now each uses
``<prefix>.executor``, ``<prefix>.timer``. A service of the new version starting where the old one ran finds its new
group empty: it copies the legacy group's offsets on its own topics first, once (chronohook/kafka/groups.py), so it
resumes where the old one stopped instead of reading (and sending) the whole log again.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from chronohook.kafka.config import admin_config, consumer_config, producer_config, transactional_producer_config
from chronohook.kafka.groups import adopt_legacy_offsets, group_id, joined_group, legacy_group_id
from chronohook.kafka.topics import Topics, ensure_topics
from chronohook.settings import Settings
from services.executor.service import GROUP as EXECUTOR
from services.timer.service import GROUP as TIMER
from tests.support.polling import eventually

PARTITIONS = 3
RECORDS = 30


def _settings(bootstrap: str, data_dir: Path) -> Settings:
    return Settings(
        kafka_bootstrap=bootstrap,
        data_dir=data_dir,
        topic_prefix=f"upgrade-{secrets.token_hex(4)}",
        partitions=PARTITIONS,
    )


@pytest.fixture
def settings(kafka_bootstrap: str, tmp_path: Path) -> Settings:
    """A fresh stack's topics on the session broker, holding RECORDS records spread over the job log's partitions."""
    settings = _settings(kafka_bootstrap, tmp_path)
    topics = ensure_topics(settings)
    producer = Producer(producer_config(settings))
    for i in range(RECORDS):
        producer.produce(topics.events, value=b"x", key=f"job-{i}".encode(), partition=i % PARTITIONS)
    assert producer.flush(30) == 0
    return settings


def _committed(settings: Settings, group: str) -> dict[tuple[str, int], int]:
    admin = AdminClient(admin_config(settings))
    answer = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(30)
    return {(tp.topic, tp.partition): tp.offset for tp in answer.topic_partitions or [] if tp.offset >= 0}


def _commit_as(settings: Settings, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """What a service of the old version leaves behind: ``offsets`` committed by a consumer of ``group``."""
    consumer = Consumer(consumer_config(settings, group))
    try:
        tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        consumer.commit(offsets=tps, asynchronous=False)
    finally:
        consumer.close()


def test_the_executor_resumes_at_the_legacy_groups_offsets(settings: Settings, kafka_bootstrap: str) -> None:
    # Given an executor of the old version committed offsets on this stack's job log under chronohook-executor
    events = Topics.from_settings(settings).events
    legacy = {(events, 0): 8, (events, 1): 5, (events, 2): 10}
    # And another stack on the same broker committed its own under that shared group
    other = _settings(kafka_bootstrap, settings.data_dir)
    other_events = ensure_topics(other).events
    _commit_as(settings, legacy_group_id(EXECUTOR), legacy | {(other_events, 0): 3})
    # And the new group has no offsets yet
    assert _committed(settings, group_id(settings, EXECUTOR)) == {}

    # When the executor of the new version starts and names its group
    joined = joined_group(settings, EXECUTOR)

    # Then it joins <prefix>.executor, which holds the legacy offsets of this stack's topics only
    assert joined == f"{settings.topic_prefix}.executor"
    assert _committed(settings, joined) == legacy
    # And a consumer of the new group resumes at them: partition 0's next record is offset 8
    consumer = Consumer(consumer_config(settings, joined))
    try:
        assert [tp.offset for tp in consumer.committed([TopicPartition(events, p) for p in range(3)], 30)] == [8, 5, 10]
    finally:
        consumer.close()


def test_the_copy_happens_once(settings: Settings) -> None:
    # Given the legacy offsets were copied, and the new version then moved on
    events = Topics.from_settings(settings).events
    _commit_as(settings, legacy_group_id(EXECUTOR), {(events, 0): 4})
    assert [(tp.topic, tp.offset) for tp in adopt_legacy_offsets(settings, EXECUTOR)] == [(events, 4)]
    new = group_id(settings, EXECUTOR)
    _commit_as(settings, new, {(events, 0): 9})
    # And an old process, still running somewhere, committed again under the legacy group
    _commit_as(settings, legacy_group_id(EXECUTOR), {(events, 0): 6})

    # When the new version starts again
    copied = adopt_legacy_offsets(settings, EXECUTOR)

    # Then nothing is copied: the new group's own offset stands
    assert copied == []
    assert _committed(settings, new) == {(events, 0): 9}


def test_nothing_to_adopt_leaves_the_new_group_to_start_as_before(settings: Settings) -> None:
    # Given no legacy group at all (a fresh install)
    # When the executor starts
    copied = adopt_legacy_offsets(settings, EXECUTOR)
    # Then nothing is copied, and the new group starts at auto.offset.reset, as a new group always did
    assert copied == []
    assert _committed(settings, group_id(settings, EXECUTOR)) == {}


def _wait_assigned(consumer: Any, topic: str) -> None:
    def assigned() -> bool:
        consumer.poll(0.1)
        return any(tp.topic == topic for tp in consumer.assignment())

    eventually(assigned, timeout=60, interval=0.0, what="the legacy timer's assignment")


def test_the_timers_transactional_offsets_are_adopted(settings: Settings) -> None:
    # Given a timer of the old version committed its input offsets inside a transaction, as it does every step
    events = Topics.from_settings(settings).events
    consumer = Consumer(consumer_config(settings, legacy_group_id(TIMER)))
    producer = Producer(transactional_producer_config(settings, f"{settings.topic_prefix}.timer.0"))
    try:
        consumer.subscribe([events])
        _wait_assigned(consumer, events)
        producer.init_transactions(30)
        producer.begin_transaction()
        offsets = [TopicPartition(events, p, 3 + p) for p in range(PARTITIONS)]
        producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 30)
        producer.commit_transaction(30)
    finally:
        consumer.close()
    # When the timer of the new version starts and names its group
    joined = joined_group(settings, TIMER)
    # Then the new group holds the offsets of the old timer's last committed transaction
    assert _committed(settings, joined) == {(events, p): 3 + p for p in range(PARTITIONS)}
