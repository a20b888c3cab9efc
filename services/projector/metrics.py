"""The projector's metrics (decision 0042): counted once per batch it folds, by the records' type headers (no decode,
no per-record label lookup beyond a dict).

- ``chronohook_projected_events_total{type}``: events folded into the read models, by event type (the types in
  schemas/events.py, ``other`` for any else): the job log's whole life at a glance.
- ``chronohook_jobs_dead_lettered_total``: jobs whose last attempt failed (``JobDeadLettered``: a dead letter, or
  a failure with retries off). The event names no queue, so this one has no queue label.
- ``chronohook_consumer_lag_records{group="<prefix>.projector"}`` (from the offsets the projector keeps in the database)
  and ``chronohook_dead_records_total``.
"""

from __future__ import annotations

from collections import Counter as Tally
from typing import Any

from prometheus_client import Counter

from chronohook.kafka.groups import group_id
from chronohook.kafka.records import Record
from chronohook.metrics import NAMESPACE, ConsumerLag, DeadRecords, children, register_once
from schemas.events import EVENT_TYPES

PROJECTED = Counter(f"{NAMESPACE}_projected_events", "Events folded into the read models, by type.", ["type"])
DEAD_LETTERED = Counter(f"{NAMESPACE}_jobs_dead_lettered", "Jobs whose last attempt failed (JobDeadLettered).")
_BY_TYPE = children(PROJECTED, [model.__name__ for model in EVENT_TYPES] + ["other"])
_OTHER = _BY_TYPE["other"]


def projected(records: list[Record]) -> None:
    """Count one batch."""
    for kind, n in Tally(record.type for record in records).items():
        _BY_TYPE.get(kind or "other", _OTHER).inc(n)
        if kind == "JobDeadLettered":
            DEAD_LETTERED.inc(n)


def register(projector: Any) -> None:
    """The projector's collectors; its lag from the offsets it stores beside its rows."""
    settings, topics = projector.settings, projector.topics

    def committed() -> dict[tuple[str, int], int]:
        return dict(projector.store.offsets(projector.consumer))

    register_once(DeadRecords())
    register_once(
        ConsumerLag(settings, group_id(settings, "projector"), [topics.events, topics.queue_settings], committed)
    )
