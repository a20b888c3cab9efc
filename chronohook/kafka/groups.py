"""Consumer group ids, and the one-time upgrade that keeps a service's committed offsets.

Each group id carries the topic prefix (``<prefix>.timer``, ``<prefix>.executor``...), so two stacks on one cluster,
each with its own prefix, never share a group. Before this, ids had no prefix (``chronohook-timer``): every stack on a
broker joined the same groups. A service that commits its offsets to Kafka (the timer, in its transactions; the
executor) calls ``joined_group`` at start: when its prefixed group has no committed offset yet and the legacy group
has some on this stack's topics, they are copied to the new group first, once, and logged. Without it the upgraded
service would start from the beginning of the log (``auto.offset.reset=earliest``): the executor would send every
due job again, the timer would read every input again.

The projector keeps its offsets in the database beside its rows (Kafka's are never committed), and the queue-settings
feed and the timer's restore only assign partitions: they take the prefixed id and have nothing to copy.

Stop every process of the old version before starting the new one: offsets the old group commits after the copy are
not carried over (their records are then handled again: at least once, as after a crash). The old group is left as
it was; delete it when no stack of the old version remains (``kafka-consumer-groups --delete --group ...``).
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Sequence

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from chronohook.errors import KafkaUnavailable
from chronohook.kafka.config import admin_config
from chronohook.settings import Settings

log = logging.getLogger("chronohook.kafka")

LEGACY_PREFIX = "chronohook-"
# A transaction the old timer left open holds its offsets "unstable" until it is aborted (at most its
# transaction.timeout.ms, 60 s): the upgrade waits for them this long.
STABLE_WAIT_S = 75.0
RETRY_EVERY_S = 0.5
# A commit from outside a group is refused once a member has joined it.
JOINED_FIRST = (KafkaError.UNKNOWN_MEMBER_ID, KafkaError.ILLEGAL_GENERATION, KafkaError.REBALANCE_IN_PROGRESS)


def group_id(settings: Settings, role: str) -> str:
    """The consumer group id of ``role`` (``timer``, ``executor``...) in this stack: ``<prefix>.<role>``."""
    return f"{settings.topic_prefix}.{role}"


def legacy_group_id(role: str) -> str:
    """The id ``role``'s group had before group ids carried the topic prefix: one for every stack on a broker."""
    return f"{LEGACY_PREFIX}{role}"


def offsets_to_copy(new: Sequence[TopicPartition], old: Sequence[TopicPartition], prefix: str) -> list[TopicPartition]:
    """What the upgrade copies from the legacy group's committed offsets ``old`` to the new group's ``new``.

    Nothing once the new group has committed anything (the copy happens once, before the new group's first commit);
    else the legacy group's committed offsets on this stack's topics (``<prefix>.*``) only: the legacy group was
    shared by every stack on the broker, and another stack's offsets are not this one's.
    """
    if any(tp.offset >= 0 for tp in new):
        return []
    return [
        TopicPartition(tp.topic, tp.partition, tp.offset)
        for tp in old
        if tp.offset >= 0 and tp.topic.startswith(f"{prefix}.")
    ]


def _committed(admin: AdminClient, group: str, timeout: float) -> list[TopicPartition]:
    """``group``'s committed offsets, stable ones only (waiting out an open transaction's, up to STABLE_WAIT_S)."""
    deadline = time.monotonic() + STABLE_WAIT_S
    while True:
        request = [ConsumerGroupTopicPartitions(group)]
        try:
            answer = admin.list_consumer_group_offsets(request, require_stable=True, request_timeout=timeout)[group]
            partitions: list[TopicPartition] = answer.result(timeout=timeout).topic_partitions or []
        except (KafkaException, concurrent.futures.TimeoutError) as exc:
            # A fresh or recovering cluster answers "coordinator loading" or not at all for a while: ask again.
            if time.monotonic() < deadline:
                log.info("consumer group %s: offsets not readable yet (%s); asking again", group, exc or "timed out")
                time.sleep(RETRY_EVERY_S)
                continue
            raise KafkaUnavailable(f"could not read the committed offsets of consumer group {group}: {exc}") from exc
        unstable = [tp for tp in partitions if tp.error is not None]
        if not unstable:
            return partitions
        if time.monotonic() >= deadline:
            raise KafkaUnavailable(f"consumer group {group}: offsets not readable: {unstable[0].error}")
        time.sleep(RETRY_EVERY_S)


def _alter(admin: AdminClient, group: str, offsets: list[TopicPartition], timeout: float) -> KafkaError | None:
    """Commit ``offsets`` for ``group`` from outside it; the error (the group's, or a partition's), if any."""
    try:
        request = [ConsumerGroupTopicPartitions(group, offsets)]
        answer = admin.alter_consumer_group_offsets(request, request_timeout=timeout)[group].result(timeout=timeout)
    except KafkaException as exc:
        error: KafkaError = exc.args[0]
        return error
    except concurrent.futures.TimeoutError:
        return KafkaError(KafkaError._TIMED_OUT, f"no answer in {timeout} s")
    failed = [tp.error for tp in answer.topic_partitions or [] if tp.error is not None]
    return failed[0] if failed else None


def adopt_legacy_offsets(settings: Settings, role: str, timeout: float = 30.0) -> list[TopicPartition]:
    """Copy the legacy group's committed offsets on this stack's topics to the prefixed group, if it has none yet.

    Returns what was copied (empty: nothing to do). Safe to call from every process of a service at once: the copies
    are the same offsets, and once one process has joined the new group the others' copy is refused and skipped.
    """
    new, old = group_id(settings, role), legacy_group_id(role)
    admin = AdminClient(admin_config(settings))
    present = _committed(admin, new, timeout)
    if any(tp.offset >= 0 for tp in present):
        return []
    copy = offsets_to_copy(present, _committed(admin, old, timeout), settings.topic_prefix)
    if not copy:
        return []
    error = _alter(admin, new, copy, timeout)
    if error is not None:
        # Another process of this service copied them and joined the group first: the group's offsets are its.
        if error.code() in JOINED_FIRST:
            log.info("consumer group %s: joined by another process first; its offsets stand", new)
            return []
        raise KafkaUnavailable(f"could not copy consumer group {old}'s offsets to {new}: {error}")
    log.warning(
        "consumer group %s: copied the committed offsets of the legacy group %s on %d partition(s) (%s); once no "
        "process of an older version runs, the legacy group can be deleted",
        new,
        old,
        len(copy),
        ", ".join(f"{tp.topic}[{tp.partition}]@{tp.offset}" for tp in copy),
    )
    return copy


def joined_group(settings: Settings, role: str) -> str:
    """The group id ``role`` joins in this stack, after adopting the legacy group's offsets (adopt_legacy_offsets)."""
    adopt_legacy_offsets(settings, role)
    return group_id(settings, role)
