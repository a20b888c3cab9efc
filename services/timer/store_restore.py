"""Bringing a partition's store up to its changelog's end: only the delta past its checkpoint, or a rebuild.

A store's checkpoint says it reflects the changelog partition below ``offset``. Reading every record from there to
the end (read_committed) and applying each, latest wins per key, yields the partition's state at the end, whoever
wrote those records: offsets only grow, so what another instance wrote while it owned the partition is all past our
checkpoint. The delta is not enough, and the store is rebuilt from the log's start, when:

* there is no checkpoint (no file, a new file, a file torn by a machine crash);
* the checkpoint is below the partition's log-start offset (records it needs are gone), or past its end (the topic
  was deleted and created again);
* the checkpoint is older than half the topic's ``delete.retention.ms``: compaction may then have removed a
  tombstone written after it, and the delta would miss a deletion (the half is a margin for clock skew and for
  tombstones written just before the checkpoint was noted).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType  # type: ignore[attr-defined]

from chronohook.kafka.batches import take
from chronohook.kafka.config import admin_config, consumer_config
from chronohook.kafka.groups import group_id
from chronohook.kafka.records import Record, read_record
from chronohook.settings import Settings
from services.timer.errors import TimerError
from services.timer.store import Change, Checkpoint, EntryStore

log = logging.getLogger("chronohook.timer.restore")

RESTORE_GROUP = "timer-restore"  # the role; assigns partitions, never commits
# Changes applied to a store per local transaction while restoring, each with the checkpoint it reached: a restore
# cut short (a crash, a revocation) resumes from there.
BATCH = 5_000
READ_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class RestoreReport:
    partition: int
    mode: Literal["delta", "rebuild"]
    # Why a rebuild: no checkpoint, below log start, past the end, older than the tombstones' retention.
    reason: str
    start: int
    end: int
    records: int
    seconds: float


def changelog_delete_retention_ms(settings: Settings, topic: str) -> int:
    """How long the broker keeps a tombstone of the changelog after compaction reached it; 0 when unreadable (every
    restore then rebuilds: slower, never wrong)."""
    admin = AdminClient(admin_config(settings))
    resource = ConfigResource(ResourceType.TOPIC, topic)
    try:
        configs = admin.describe_configs([resource], request_timeout=10)[resource].result(timeout=10)
        return int(configs["delete.retention.ms"].value)
    except (KafkaException, KeyError, ValueError, TypeError) as exc:
        log.warning("could not read delete.retention.ms of %s (%s): every restore rebuilds", topic, exc)
        return 0


def plan(checkpoint: Checkpoint | None, low: int, high: int, retention_ms: int, now_ms: int) -> tuple[int, str]:
    """Where to start reading and why: (checkpoint offset, "") for a delta, (low, reason) for a rebuild."""
    if checkpoint is None:
        return low, "no checkpoint"
    if checkpoint.offset < low:
        return low, f"checkpoint {checkpoint.offset} below the log start {low}"
    if checkpoint.offset > high:
        return low, f"checkpoint {checkpoint.offset} past the log end {high}"
    if now_ms - checkpoint.written_at_ms >= retention_ms // 2:
        return low, "checkpoint older than half of delete.retention.ms"
    return checkpoint.offset, ""


def restore_partitions(
    settings: Settings,
    store: EntryStore,
    topic: str,
    partitions: set[int],
    *,
    retention_ms: int,
    now_ms: int,
    read: Callable[[Record], Change | None],
) -> list[RestoreReport]:
    """Open each partition's store and apply the changelog from where it stands to the end. ``read`` turns a record
    into a change (None: the record was set aside and is skipped)."""
    started = time.monotonic()
    restorer = Consumer(consumer_config(settings, group_id(settings, RESTORE_GROUP), **{"enable.partition.eof": True}))
    try:
        starts: dict[int, tuple[int, int, str]] = {}
        for p in sorted(partitions):
            store.open(p)
            low, high = restorer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            start, reason = plan(store.checkpoint(p), low, high, retention_ms, now_ms)
            if reason:
                store.clear(p)
            starts[p] = (start, high, reason)
        reading = [TopicPartition(topic, p, start) for p, (start, high, _) in starts.items() if high > start]
        counts = dict.fromkeys(partitions, 0)
        ends = {p: max(start, high) for p, (start, high, _) in starts.items()}
        if reading:
            restorer.assign(reading)
            _read_to_end(restorer, store, {tp.partition for tp in reading}, read, counts, ends, now_ms)
        for p, (start, high, _) in starts.items():
            if high <= start:
                # Nothing to read: the store is complete at the end as of now.
                store.write(p, [], Checkpoint(ends[p], now_ms))
    finally:
        restorer.close()
    took = time.monotonic() - started
    return [
        RestoreReport(p, "rebuild" if reason else "delta", reason, start, ends[p], counts[p], took)
        for p, (start, _, reason) in sorted(starts.items())
    ]


def _read_to_end(
    restorer: Consumer,
    store: EntryStore,
    remaining: set[int],
    read: Callable[[Record], Change | None],
    counts: dict[int, int],
    ends: dict[int, int],
    now_ms: int,
) -> None:
    batches: dict[int, list[Change]] = {p: [] for p in remaining}
    last: dict[int, int] = {}
    while remaining:
        # take, not consume(n, timeout): that waits out its timeout unless n records come (chronohook/kafka/batches.py).
        for msg in take(restorer, 5_000, READ_TIMEOUT_S):
            err = msg.error()
            partition = msg.partition() or 0
            if err is not None and err.code() == KafkaError._PARTITION_EOF:
                if partition in remaining:
                    end = msg.offset() or 0
                    ends[partition] = max(ends[partition], end, last.get(partition, -1) + 1)
                    store.write(partition, batches[partition], Checkpoint(ends[partition], now_ms))
                    batches[partition] = []
                    remaining.discard(partition)
                continue
            try:
                record = read_record(msg)
            except KafkaException as exc:
                raise TimerError(f"restoring the changelog failed: {exc}") from exc
            if record is None or record.partition not in remaining:
                continue
            counts[record.partition] += 1
            last[record.partition] = record.offset
            change = read(record)
            if change is not None:
                batches[record.partition].append(change)
            if len(batches[record.partition]) >= BATCH:
                store.write(record.partition, batches[record.partition], Checkpoint(record.offset + 1, now_ms))
                batches[record.partition] = []
