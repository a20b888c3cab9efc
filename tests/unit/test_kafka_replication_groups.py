"""Created topics are replicated as the cluster allows; consumer group ids carry the topic prefix, and the upgrade
from the unprefixed ids copies only this stack's committed offsets, once."""

from __future__ import annotations

import pytest
from confluent_kafka import OFFSET_INVALID, TopicPartition

from chronohook.errors import KafkaMisconfigured
from chronohook.kafka.groups import group_id, legacy_group_id, offsets_to_copy
from chronohook.kafka.topics import replication_for
from chronohook.settings import Settings
from services.executor.service import GROUP as EXECUTOR
from services.projector.service import GROUP as PROJECTOR
from services.timer.queue_feed import GROUP as QUEUE_FEED
from services.timer.service import GROUP as TIMER
from services.timer.store_restore import RESTORE_GROUP


@pytest.mark.parametrize(
    ("brokers", "rf_setting", "isr_setting", "expected"),
    [
        # Unset: min(3, brokers) replicas, and min.insync.replicas one fewer (at least 1).
        (1, None, None, (1, 1)),
        (2, None, None, (2, 1)),
        (3, None, None, (3, 2)),
        (5, None, None, (3, 2)),
        # Set: as given, min.insync.replicas following the factor unless set too.
        (5, 5, None, (5, 4)),
        (3, 1, None, (1, 1)),
        (3, 3, 3, (3, 3)),
        (3, None, 1, (3, 1)),
    ],
)
def test_replication_follows_the_settings_and_the_cluster(
    brokers: int, rf_setting: int | None, isr_setting: int | None, expected: tuple[int, int]
) -> None:
    # Given a cluster of `brokers` and the settings / When a topic's replication is chosen / Then it is as expected
    assert replication_for(brokers, rf_setting, isr_setting) == expected


@pytest.mark.parametrize(
    ("brokers", "rf_setting", "isr_setting", "named"),
    [
        (1, 3, None, "CHRONOHOOK_REPLICATION_FACTOR"),
        (3, None, 4, "CHRONOHOOK_MIN_INSYNC_REPLICAS"),
        (1, None, 2, "CHRONOHOOK_MIN_INSYNC_REPLICAS"),
    ],
)
def test_replication_the_cluster_cannot_give_is_refused_naming_the_setting(
    brokers: int, rf_setting: int | None, isr_setting: int | None, named: str
) -> None:
    # Given settings asking for more than the cluster or the factor allows
    # When the topics' replication is chosen / Then start-up stops, naming the setting to change
    with pytest.raises(KafkaMisconfigured, match=named):
        replication_for(brokers, rf_setting, isr_setting)


def test_every_group_id_carries_the_topic_prefix() -> None:
    # Given two stacks on one cluster, each with its own prefix
    one, two = Settings(topic_prefix="blue"), Settings(topic_prefix="green")
    # When each service names its group / Then the ids differ by stack and keep the service's role
    for role in (TIMER, EXECUTOR, PROJECTOR, QUEUE_FEED, RESTORE_GROUP):
        assert group_id(one, role) == f"blue.{role}"
        assert group_id(two, role) == f"green.{role}"
    # And the legacy ids are the ones every stack shared before
    assert [legacy_group_id(r) for r in (TIMER, EXECUTOR, PROJECTOR)] == [
        "chronohook-timer",
        "chronohook-executor",
        "chronohook-projector",
    ]


def _tp(topic: str, partition: int, offset: int) -> TopicPartition:
    return TopicPartition(topic, partition, offset)


@pytest.mark.parametrize(
    ("new", "old", "expected"),
    [
        # Nothing committed anywhere: nothing to copy.
        ([], [], []),
        # The legacy group's offsets on this stack's topics are copied, whatever else it holds.
        (
            [],
            [_tp("blue.job-events", 0, 10), _tp("blue.job-events", 1, 7), _tp("green.job-events", 0, 99)],
            [("blue.job-events", 0, 10), ("blue.job-events", 1, 7)],
        ),
        # A partition the legacy group never committed is left to auto.offset.reset.
        ([], [_tp("blue.job-events", 0, OFFSET_INVALID), _tp("blue.job-events", 2, 3)], [("blue.job-events", 2, 3)]),
        # A prefix that is a prefix of another's is not confused with it.
        ([], [_tp("blue2.job-events", 0, 5)], []),
        # The new group listed with no committed offset yet: still copied.
        ([_tp("blue.job-events", 0, OFFSET_INVALID)], [_tp("blue.job-events", 0, 4)], [("blue.job-events", 0, 4)]),
        # Once the new group has committed anything, never again.
        ([_tp("blue.job-events", 0, 1)], [_tp("blue.job-events", 0, 4)], []),
    ],
)
def test_the_upgrade_copies_this_stacks_offsets_once(
    new: list[TopicPartition], old: list[TopicPartition], expected: list[tuple[str, int, int]]
) -> None:
    # Given the new group's and the legacy group's committed offsets, for the stack with prefix "blue"
    # When the copy is planned
    planned = offsets_to_copy(new, old, "blue")
    # Then it is the legacy offsets on blue's topics, only while the new group has none
    assert [(tp.topic, tp.partition, tp.offset) for tp in planned] == expected
