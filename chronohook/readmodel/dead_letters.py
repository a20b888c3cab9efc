"""Dead letters: Recuro jobs whose retries ran out, as the projector folds them and ingest reads them.

A row per dead letter, keyed by the job its retry chain started from (``JobDeadLettered`` is keyed there): written
on ``JobDeadLettered`` (retries enabled; ``failed_no_retries`` is not a dead letter), marked on
``DeadLetterReplayed`` (it leaves the list; a second replay is refused), deleted on ``JobPurged`` and ``JobDeleted``.
A purge also deletes the other jobs of the chain and every run of them: the projector follows the views'
``retry_job_id`` and ``retry_of`` links, so the purge event itself needs to name only the dead letter.

The chain's jobs are keyed apart (other partitions), so a purge may be folded before a retry's push: the rebuild
of a log reads partitions in any interleaving. The purged jobs are remembered (``purged_chains``), and a retry of a
purged original is purged as it is folded, so the read models are the same whichever comes first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, update

from chronohook.readmodel.views import JobView, RunView
from chronohook.store.tables import dead_letters, job_runs, jobs, purged_chains
from schemas.events import DeadLetterReplayed, Event, JobDeadLettered, JobDeleted, JobPurged, JobPushed

# The most jobs one retry chain can hold: the original and at most 10 retries (a queue's retry_delays), with room.
MAX_CHAIN = 16
IN_CHUNK = 500


@dataclass(frozen=True)
class DeadLetter:
    """One dead letter as read: the row, and the summary of the run that failed last (None until projected)."""

    job_id: str
    tenant: str
    integer_id: int
    queue: str
    queue_id: int
    method: str
    url: str
    attempts: int
    dead_lettered_at: datetime
    last_run_id: str | None
    replayed_job_id: str | None
    replayed_at: datetime | None
    purge_at: datetime | None = None
    last_run: RunView | None = None


class DeadLetterWrites:
    """One projector batch's changes to the dead letters, gathered in event order and written at the end.

    ``fold`` takes each event with the job's view before it (a purge needs the chain's links, which the job's own
    view loses as the purge folds it away).
    """

    def __init__(self) -> None:
        # job id -> the row to write (None: delete any row), in the order first touched
        self._rows: dict[str, dict[str, Any] | None] = {}
        # replays of dead letters whose row is not in this batch: job id -> (replay job id, at)
        self._replays: dict[str, tuple[str, datetime]] = {}
        # purged jobs and the links out of them, to follow to the rest of their chains
        self._purged: dict[str, tuple[str | None, str | None]] = {}
        # retries pushed in this batch: job id -> the chain's original
        self._retries: dict[str, str] = {}

    def fold(self, event: Event, before: JobView | None, after: JobView | None) -> None:
        if type(event) not in _FOLDED:  # most events: one set lookup, not a class pattern per case below
            return
        key = event.job_id
        match event:
            case JobPushed(retry_of=str(original)) if after is not None:
                self._retries[key] = original
            case JobDeadLettered(final_status="dead_lettered") if after is not None and after.api == "recuro":
                self._rows[key] = _row(event, after)
                self._replays.pop(key, None)
            case DeadLetterReplayed():
                row = self._rows.get(key)
                if row is not None:
                    row.update(replayed_job_id=event.replay_job_id, replayed_at=event.occurred_at)
                elif key not in self._rows:
                    self._replays[key] = (event.replay_job_id, event.occurred_at)
            case JobPurged() | JobDeleted():
                self._rows[key] = None
                self._replays.pop(key, None)
                if isinstance(event, JobPurged):
                    links = (before.retry_job_id, before.retry_of) if before is not None else (None, None)
                    self._purged[key] = links

    def flush(self, conn: Connection) -> set[str]:
        """Write the batch's changes; the chains of purged jobs go with them (their jobs, runs and rows), and so do
        retries of chains purged before. Returns the jobs deleted besides the batch's own removals."""
        chained = _chain_members(conn, self._purged)
        purged = set(self._purged) | chained
        late = {job for job, original in self._retries.items() if original in purged}
        if waiting := sorted(set(self._retries.values()) - purged):
            marked = purged_members(conn, waiting)
            late |= {job for job, original in self._retries.items() if original in marked}
        chained |= late
        _mark_purged(conn, sorted(purged | late))
        gone = sorted({k for k, row in self._rows.items() if row is None} | chained | set(self._rows))
        for start in range(0, len(gone), IN_CHUNK):
            conn.execute(delete(dead_letters).where(dead_letters.c.job_id.in_(gone[start : start + IN_CHUNK])))
        members = sorted(chained)
        for start in range(0, len(members), IN_CHUNK):
            chunk = members[start : start + IN_CHUNK]
            conn.execute(delete(job_runs).where(job_runs.c.job_id.in_(chunk)))
            conn.execute(delete(jobs).where(jobs.c.job_id.in_(chunk)))
        rows = [row for row in self._rows.values() if row is not None]
        if rows:
            conn.execute(insert(dead_letters), rows)
        for key, (replay_job_id, at) in self._replays.items():
            conn.execute(
                update(dead_letters)
                .where(and_(dead_letters.c.job_id == key, dead_letters.c.replayed_job_id.is_(None)))
                .values(replayed_job_id=replay_job_id, replayed_at=at)
            )
        return chained


def purged_members(conn: Connection, job_ids: list[str]) -> set[str]:
    """Which of ``job_ids`` belong to purged retry chains."""
    found: set[str] = set()
    for start in range(0, len(job_ids), IN_CHUNK):
        chunk = job_ids[start : start + IN_CHUNK]
        found.update(conn.execute(select(purged_chains.c.job_id).where(purged_chains.c.job_id.in_(chunk))).scalars())
    return found


def _mark_purged(conn: Connection, job_ids: list[str]) -> None:
    """Remember purged jobs (each once; a redelivered batch marks nothing new)."""
    for start in range(0, len(job_ids), IN_CHUNK):
        chunk = job_ids[start : start + IN_CHUNK]
        known = purged_members(conn, chunk)
        fresh = [{"job_id": j} for j in chunk if j not in known]
        if fresh:
            conn.execute(insert(purged_chains), fresh)


_FOLDED: frozenset[type] = frozenset({JobDeadLettered, DeadLetterReplayed, JobPurged, JobDeleted, JobPushed})


def _row(event: JobDeadLettered, view: JobView) -> dict[str, Any]:
    return dict(
        job_id=event.job_id,
        tenant=event.tenant,
        integer_id=view.integer_id or 0,
        queue=view.queue or "",
        queue_id=view.queue_id or 0,
        method=view.request.method,
        url=view.request.url,
        attempts=event.attempts,
        dead_lettered_at=event.occurred_at,
        last_run_id=event.failed_run_id,
        replayed_job_id=None,
        replayed_at=None,
        purge_at=event.purge_at,
    )


def _chain_members(conn: Connection, purged: dict[str, tuple[str | None, str | None]]) -> set[str]:
    """The other jobs of the purged jobs' retry chains: forward along ``retry_job_id``, back to ``retry_of`` (the
    chain's original), and forward from there; bounded by MAX_CHAIN hops each way."""
    found: set[str] = set()
    for key, (forward, back) in purged.items():
        seen = {key}
        frontier = [k for k in (forward, back) if k is not None]
        for _ in range(MAX_CHAIN * 2):
            if not frontier:
                break
            nxt = frontier.pop()
            if nxt in seen:
                continue
            seen.add(nxt)
            doc = conn.execute(select(jobs.c.doc).where(jobs.c.job_id == nxt)).scalar()
            if doc is None:
                continue
            view = JobView.model_validate(_doc(doc))
            frontier.extend(k for k in (view.retry_job_id, view.retry_of) if k is not None and k not in seen)
        found |= seen - {key}
    return found


# -- reads (ingest) ---------------------------------------------------------------------------------------------
def _listed(tenant: str, queue_id: int | None) -> Any:
    where = and_(dead_letters.c.tenant == tenant, dead_letters.c.replayed_job_id.is_(None))
    return where if queue_id is None else and_(where, dead_letters.c.queue_id == queue_id)


def list_dead_letters(
    engine: Engine, tenant: str, queue_id: int | None, limit: int, offset: int
) -> tuple[list[DeadLetter], int]:
    """A page of the tenant's dead letters not replayed (of one queue, if given), newest first, and their total."""
    where = _listed(tenant, queue_id)
    query = (
        select(dead_letters)
        .where(where)
        .order_by(dead_letters.c.dead_lettered_at.desc(), dead_letters.c.job_id.desc())
        .limit(limit)
        .offset(offset)
    )
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(dead_letters).where(where)).scalar_one()
        rows = [_dead_letter(r._mapping) for r in conn.execute(query)]
        return _with_runs(conn, rows), total


def oldest_dead_letters(engine: Engine, tenant: str, queue_id: int, limit: int) -> tuple[list[DeadLetter], int]:
    """Up to ``limit`` of a queue's dead letters not replayed, oldest first (bulk replay and purge take them in
    the order they died), and how many the queue holds in all."""
    where = _listed(tenant, queue_id)
    query = (
        select(dead_letters).where(where).order_by(dead_letters.c.dead_lettered_at, dead_letters.c.job_id).limit(limit)
    )
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(dead_letters).where(where)).scalar_one()
        return [_dead_letter(r._mapping) for r in conn.execute(query)], total


def dead_letters_by_id(engine: Engine, tenant: str, job_ids: list[str]) -> dict[str, DeadLetter]:
    """The tenant's dead letters (replayed ones too) among ``job_ids``; another tenant's are not found."""
    found: dict[str, DeadLetter] = {}
    with engine.connect() as conn:
        for start in range(0, len(job_ids), IN_CHUNK):
            chunk = job_ids[start : start + IN_CHUNK]
            query = select(dead_letters).where(and_(dead_letters.c.tenant == tenant, dead_letters.c.job_id.in_(chunk)))
            for r in conn.execute(query):
                letter = _dead_letter(r._mapping)
                found[letter.job_id] = letter
    return found


def _dead_letter(row: Any) -> DeadLetter:
    return DeadLetter(
        job_id=row["job_id"],
        tenant=row["tenant"],
        integer_id=row["integer_id"],
        queue=row["queue"],
        queue_id=row["queue_id"],
        method=row["method"],
        url=row["url"],
        attempts=row["attempts"],
        dead_lettered_at=_aware(row["dead_lettered_at"]),
        last_run_id=row["last_run_id"],
        replayed_job_id=row["replayed_job_id"],
        replayed_at=None if row["replayed_at"] is None else _aware(row["replayed_at"]),
        purge_at=None if row["purge_at"] is None else _aware(row["purge_at"]),
    )


def _aware(at: datetime) -> datetime:
    # SQLite hands back what it stored without the zone; every time written here is UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _with_runs(conn: Connection, letters: list[DeadLetter]) -> list[DeadLetter]:
    run_ids = [d.last_run_id for d in letters if d.last_run_id is not None]
    runs: dict[str, RunView] = {}
    for start in range(0, len(run_ids), IN_CHUNK):
        chunk = run_ids[start : start + IN_CHUNK]
        query = select(job_runs.c.run_id, job_runs.c.doc).where(job_runs.c.run_id.in_(chunk))
        for run_id, doc in conn.execute(query):
            runs[run_id] = RunView.model_validate(_doc(doc))
    return [replace(d, last_run=runs.get(d.last_run_id or "")) for d in letters]


def _doc(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def job_views(engine: Engine, tenant: str, job_ids: list[str]) -> dict[str, JobView]:
    """The tenant's job views among ``job_ids`` (a replay's request, queue and callback come from there)."""
    found: dict[str, JobView] = {}
    with engine.connect() as conn:
        for start in range(0, len(job_ids), IN_CHUNK):
            chunk = job_ids[start : start + IN_CHUNK]
            query = select(jobs.c.job_id, jobs.c.doc).where(and_(jobs.c.tenant == tenant, jobs.c.job_id.in_(chunk)))
            for job_id, doc in conn.execute(query):
                found[job_id] = JobView.model_validate(_doc(doc))
    return found
