"""Topic names, their configs and the size of a record: facts of the wire contract, in one place.

Everything that creates a topic, sizes a producer or a consumer, or refuses an oversized job reads these, so the
broker's, the clients' and ingest's limits cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

DEFAULT_PREFIX: Final = "chronohook"
DEFAULT_PARTITIONS: Final = 3
DEFAULT_BOOTSTRAP: Final = "127.0.0.1:9092"

EVENTS: Final = "job-events"
TIMER_STATE: Final = "timer-state"
DEAD_RECORDS: Final = "dead-records"
# Recuro queues' settings, the latest per queue (decision 0015): a small table every timer instance reads whole.
QUEUE_SETTINGS: Final = "queue-settings"

# Every record of the job log carries its event type in this header, so consumers skip others without decoding.
TYPE_HEADER: Final = "type"
# librdkafka's name for the Java client's default partitioner: a job's records land in the same partition number
# of every topic, whichever client wrote them.
PARTITIONER: Final = "murmur2_random"

# -- record size ------------------------------------------------------------------------------------------------
# One event, JSON-encoded and uncompressed, never exceeds MAX_EVENT_BYTES: ingest refuses a job whose events could
# (its request plus RESULT_ALLOWANCE_BYTES for what a run adds: the capped response body and headers, JSON-escaped,
# and the error text). Broker and clients accept records of up to MAX_MESSAGE_BYTES, twice the budget: the margin
# covers the record's key, headers and batch framing, with room to spare.
MAX_EVENT_BYTES: Final = 2 * 1024 * 1024
RESULT_ALLOWANCE_BYTES: Final = 256 * 1024
MAX_MESSAGE_BYTES: Final = 2 * MAX_EVENT_BYTES
# The topics' own bound sits above the clients' by a batch header's worth, so what a client sends is never refused.
TOPIC_MAX_MESSAGE_BYTES: Final = MAX_MESSAGE_BYTES + 64 * 1024

# The job log is the audit trail and the source for replay: kept forever. The timer's changelog is compacted: only
# the latest state per job matters. Records set aside as bad are kept for 30 days for an operator to look at.
LOG_CONFIG: Final = {
    "retention.ms": "-1",
    "retention.bytes": "-1",
    "cleanup.policy": "delete",
    "max.message.bytes": str(TOPIC_MAX_MESSAGE_BYTES),
}
CHANGELOG_CONFIG: Final = {
    "cleanup.policy": "compact",
    "min.compaction.lag.ms": "60000",
    "max.message.bytes": str(TOPIC_MAX_MESSAGE_BYTES),
}
# Compacted, and never deleted by age: a queue's latest settings hold until they change again.
QUEUE_SETTINGS_CONFIG: Final = {
    "cleanup.policy": "compact",
    "min.compaction.lag.ms": "60000",
    "max.message.bytes": str(TOPIC_MAX_MESSAGE_BYTES),
}
DEAD_RECORDS_CONFIG: Final = {
    "retention.ms": str(30 * 24 * 3600 * 1000),
    "cleanup.policy": "delete",
    "max.message.bytes": str(TOPIC_MAX_MESSAGE_BYTES),
}


def topic_name(prefix: str, name: str) -> str:
    return f"{prefix}.{name}"


def queue_settings_key(tenant: str, queue_id: int) -> str:
    """A queue's key on ``<prefix>.queue-settings`` (the event's ``job_id``): the tenant too, so a 53-bit queue id
    that two tenants happen to share never lets one tenant's settings replace the other's under compaction."""
    return f"queue:{tenant}:{queue_id}"


def queue_of_settings_key(key: bytes | str | None) -> tuple[str, int]:
    """The (tenant, queue id) a ``queue_settings_key`` names (a tombstone carries nothing else, decision 0030);
    ValueError for any other key."""
    text = key.decode(errors="replace") if isinstance(key, bytes) else (key or "")
    prefix, _, rest = text.partition(":")
    tenant, _, number = rest.rpartition(":")
    if prefix != "queue" or not tenant or not number.isdigit() or len(number) > 20:
        raise ValueError(f"{text[:200]!r} is no queue's key")
    return tenant, int(number)


# A queue's tombstone carries the instant it was deleted in this header (RFC 3339, UTC): the projector orders it with
# the queue's pushes, which come on another topic (decision 0030).
DELETED_AT_HEADER: Final = "deleted_at"


def deleted_at_of(headers: Sequence[tuple[str, bytes | None]]) -> datetime | None:
    """The ``deleted_at`` of a queue's tombstone; None without one; ValueError for one that is no aware instant."""
    for name, value in headers:
        if name == DELETED_AT_HEADER and value is not None:
            at = datetime.fromisoformat(value.decode(errors="replace"))
            if at.tzinfo is None:
                raise ValueError(f"{DELETED_AT_HEADER} {value[:40]!r} has no offset")
            return at.astimezone(UTC)
    return None
