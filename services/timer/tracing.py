"""The timer's part of a job's trace (decision 0043): the trace context a record brings is kept in the entry it
changes, and the events a step appends carry their entry's.

- A job's definition (``JobCreated``, ``JobUpdated``, ``JobPushed``) stamps its ``TimerEntry`` with the record's
  ``traceparent`` (the API call's): the ``JobDue`` fired from it, however much later, continues that trace, in a
  ``timer fire`` span (when tracing is on here) that ends when the step's transaction commits.
- A run's result stamps the new ``CallbackEntry`` with the result record's context (the executor's delivery): the
  callback follows the delivery in the same trace.
Without a ``traceparent`` header (tracing off upstream) nothing is stamped and no span is made.
"""

from __future__ import annotations

from collections.abc import Mapping

from chronohook import tracing
from chronohook.kafka.records import Record
from schemas.changelog import CallbackEntry, Entry, TimerEntry
from schemas.events import Envelope

DEFINING = frozenset({"JobCreated", "JobUpdated", "JobPushed"})
Decided = tuple[dict[str, Entry | None], list[Envelope]]


def stamped(record: Record, decided: Decided) -> Decided:
    """``decide``'s changes, with the record's trace context kept in the entries it belongs to (above)."""
    if len(record.headers) < 2:  # the type header alone: no trace context (the common case, tracing off)
        return decided
    traceparent = tracing.traceparent_in(record.headers)
    changes, emitted = decided
    if traceparent is None:
        return decided
    kept: dict[str, Entry | None] = {}
    for key, new in changes.items():
        if isinstance(new, TimerEntry) and new.traceparent != traceparent:
            if new.traceparent is None or record.type in DEFINING:
                new = new.model_copy(update={"traceparent": traceparent})
        elif isinstance(new, CallbackEntry) and new.traceparent is None:
            new = new.model_copy(update={"traceparent": traceparent})
        kept[key] = new
    return kept, emitted


def traceparent_for(event: Envelope, entries: Mapping[str, tuple[int, Entry | None]]) -> str | None:
    """The trace context ``event`` continues: its callback's entry's, else its job's, among the step's changes."""
    # Through __dict__: a pydantic model's missing attribute costs ~3 us to find missing, for every event of a step.
    for key in (event.__dict__.get("callback_id"), event.job_id):
        change = None if key is None else entries.get(key)
        if change is not None and change[1] is not None:
            traceparent = change[1].__dict__.get("traceparent")
            if traceparent is not None:
                return str(traceparent)
    return None
