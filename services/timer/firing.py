"""One timer step's firing, bounded (decision 0028).

``plan`` (pure) decides, of the due candidates in the order the buckets chose them (due order, or round robin
across tenants when more is due than the cap: services/timer/buckets.py), what fires in this step: at most
``entries`` of them and, in all, at most ``bytes`` of requests (the first always fires, however large, or it
never would); the rest stay armed, due, so the next step takes them at once. ``fire_due`` is the shell's loop
around it: it pops at most ``entries`` due entries, reads them, plans, applies the tenants' delivery budget, fires
each, and turns any entry that raises (unreadable, or its firing fails) into a ``JobFireFailed`` and a tombstone:
disarmed, recorded, never a crash of the step.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from chronohook.clock import to_ms
from chronohook.ids import deterministic_event_id
from schemas.changelog import AlertEntry, CallbackEntry, Entry, TimerEntry
from schemas.events import FIRE_ERROR_MAX_CHARS, Envelope, JobFireFailed
from services.timer.buckets import TimeBuckets
from services.timer.budget import TenantBudgets, budgeted
from services.timer.domain import fire_entry
from services.timer.errors import TimerError
from services.timer.queues import QueueLookup

# What an entry's firing writes besides its request: the event's and the changelog record's fields, ids, times.
ENTRY_OVERHEAD_BYTES = 1_024


@dataclass(frozen=True, slots=True)
class FireCap:
    """The most one step fires: entries, and request bytes in all (``timer_fire_max_entries``, ``..._bytes``)."""

    entries: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Candidate:
    key: str
    partition: int
    due_ms: int
    size: int
    tenant: str = ""


def plan(candidates: Sequence[Candidate], cap: FireCap) -> tuple[list[Candidate], list[Candidate]]:
    """(fire now, keep armed): the longest prefix of ``candidates`` (in their order) within ``cap``, at least one."""
    total = 0
    for n, candidate in enumerate(candidates):
        total += candidate.size
        if n >= cap.entries or (n > 0 and total > cap.bytes):
            return list(candidates[:n]), list(candidates[n:])
    return list(candidates), []


def entry_bytes(entry: Entry | None) -> int:
    """What firing ``entry`` writes, roughly: its request (or callback body, alert) and a fixed overhead."""
    if isinstance(entry, TimerEntry):
        request = entry.request
        size = len(request.url) + len(request.body or "") + sum(len(k) + len(v) for k, v in request.headers.items())
        return ENTRY_OVERHEAD_BYTES + 2 * size + (len(json.dumps(entry.payload)) if entry.payload else 0)
    if isinstance(entry, CallbackEntry):
        return ENTRY_OVERHEAD_BYTES + 2 * (len(entry.body) + len(entry.url))
    if isinstance(entry, AlertEntry):
        return 4 * ENTRY_OVERHEAD_BYTES
    return ENTRY_OVERHEAD_BYTES


class UnreadableEntry(TimerError):
    """An entry in the store that does not decode; ``tenant`` as far as its bytes tell ("" when they do not)."""

    def __init__(self, message: str, tenant: str) -> None:
        super().__init__(message)
        self.tenant = tenant


def tenant_in(value: bytes) -> str:
    """The ``tenant`` field of an entry's JSON, if it has one."""
    try:
        doc = json.loads(value)
    except ValueError:
        return ""
    tenant = doc.get("tenant") if isinstance(doc, dict) else None
    return tenant if isinstance(tenant, str) else ""


def job_id_of_key(key: str) -> str:
    """The job an entry's key belongs to: ``cb:<job>:<ms>:<attempt>`` and ``alert:<run id>`` carry a run id,
    ``dlq:<job>`` a job id; a job's entry is keyed by its job id."""
    for prefix in ("cb:", "alert:"):
        if key.startswith(prefix) and key.count(":") >= 3:
            return key[len(prefix) :].rsplit(":", 2)[0]
    return key.removeprefix("dlq:")


def fire_failed(key: str, entry: Entry | None, error: BaseException, now: datetime) -> JobFireFailed:
    """The record of an entry that could not be fired; its id derives from the entry and the step's time."""
    job_id = getattr(entry, "job_id", None) or job_id_of_key(key)
    tenant = getattr(entry, "tenant", None) or (error.tenant if isinstance(error, UnreadableEntry) else "")
    text = f"{type(error).__name__}: {error}"[:FIRE_ERROR_MAX_CHARS]
    return JobFireFailed(
        event_id=deterministic_event_id("fire-failed", key, to_ms(now)),
        job_id=job_id,
        tenant=tenant,
        occurred_at=now,
        entry_key=key,
        error=text,
    )


Get = Callable[[str, int], Entry | None]
Put = Callable[[str, int, Entry | None], None]


def fire_due(
    buckets: TimeBuckets,
    get: Get,
    put: Put,
    now: datetime,
    lead: timedelta,
    cap: FireCap,
    queues: QueueLookup,
    budgets: TenantBudgets,
) -> list[Envelope]:
    """Fire what is due by ``now + lead``, within ``cap``; the events decided. Never raises for an entry's sake."""
    read: dict[str, Entry | Exception | None] = {}
    candidates: list[Candidate] = []
    for key, partition, due_ms, tenant in buckets.pop_due_limited(to_ms(now + lead), cap.entries):
        try:
            found: Entry | Exception | None = get(key, partition)
        except Exception as exc:
            found = exc
        read[key] = found
        size = entry_bytes(None if isinstance(found, Exception) else found)
        candidates.append(Candidate(key, partition, due_ms, size, tenant))
    now_fired, kept = plan(candidates, cap)
    for candidate in kept:
        buckets.arm(candidate.key, candidate.due_ms, candidate.partition, candidate.tenant)
    out: list[Envelope] = []
    for candidate in now_fired:
        found = read[candidate.key]
        entry = None if isinstance(found, Exception) else found
        try:
            if isinstance(found, Exception):
                raise found
            if found is None:
                continue
            new, emitted = fire_entry(budgeted(found, now, lead, budgets, queues), now, lead, queues)
            put(candidate.key, candidate.partition, new)
        except Exception as exc:
            # Disarmed (its entry goes: a redefinition arms the job afresh) and recorded; the others fire.
            put(candidate.key, candidate.partition, None)
            emitted = [fire_failed(candidate.key, entry, exc, now)]
        out.extend(emitted)
    return out
