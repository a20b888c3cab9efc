"""The read-model store: the projector writes batches (rows + consumed offsets in one transaction); ingest reads."""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from chronohook.readmodel.alerts import AlertWrites
from chronohook.readmodel.dead_letters import DeadLetterWrites, purged_members
from chronohook.readmodel.history import HistoryWrites
from chronohook.readmodel.queues import deleted_since, remove_queue, write_queue_settings
from chronohook.readmodel.views import JobView, RunView, evolve, run_view
from chronohook.store.tables import consumer_offsets, job_names, job_runs, jobs, queues
from schemas.events import (
    Event,
    JobCreated,
    JobDeleted,
    JobFailed,
    JobPurged,
    JobPushed,
    JobSucceeded,
    QueueSettingsChanged,
)

# The projector's name in consumer_offsets; ingest reads its progress for read-your-writes.
PROJECTOR_CONSUMER = "projector"


@dataclass(frozen=True)
class Consumed:
    topic: str
    partition: int
    offset: int
    event: Event


class ReadModelStore:
    def __init__(self, engine: Engine, cache_size: int = 50_000) -> None:
        self.engine = engine
        # The projector's own recent views (job id -> view, None once deleted), as committed. Loading and validating
        # a view's JSON for every event was the largest part of the projector's profile after set-at-a-time SQL.
        # Only valid while this process owns the job's partition: the projector clears it on every assignment.
        self._cache: OrderedDict[str, JobView | None] = OrderedDict()
        self._cache_size = cache_size

    def forget_cached(self) -> None:
        self._cache.clear()

    # -- writes (projector) ------------------------------------------------------------------------------------
    def apply(self, consumer: str, batch: list[Consumed], now: datetime) -> None:
        """Fold ``batch`` into the views and store the next offsets, atomically. Writes rows only: no side effects
        (callbacks are the executor's, decided by the timer), so replaying the log into a fresh database is safe.

        Set at a time: one SELECT for the batch's jobs, one for its runs, then one statement per kind of
        write with many parameter sets. Row-at-a-time SQL was the projector's whole profile (docs/benchmarks.md).
        """
        with self.engine.begin() as conn:
            stored = self._offsets(conn, consumer)
            fresh = [i for i in batch if i.offset >= stored.get((i.topic, i.partition), 0)]  # else applied before
            wanted = {i.event.job_id for i in fresh}
            views: dict[str, JobView | None] = {j: self._cache[j] for j in wanted if j in self._cache}
            views.update(self._load_many(conn, wanted - views.keys()))
            existed = {j for j, v in views.items() if v is not None}  # jobs that had a row when this batch began
            # Retries of purged chains keep their history whether the purge was folded before or after their
            # events (a rebuild interleaves partitions differently from the live projector).
            purged = purged_members(conn, sorted(wanted - existed))
            run_ids = [
                e.outcome.run_id for e in (i.event for i in fresh) if type(e) in _RESULTS and isinstance(e, _RESULT)
            ]
            known_runs = self._existing_runs(conn, run_ids)
            writes = _Writes(conn.dialect.name == "sqlite")
            queue_settings: list[QueueSettingsChanged] = []
            alert_writes = AlertWrites()  # alerts and alert destinations (chronohook/readmodel/alerts.py)
            dead_writes = DeadLetterWrites()  # dead letters, and purged retry chains (readmodel/dead_letters.py)
            history = HistoryWrites(conn.dialect.name == "sqlite")  # every job's events (readmodel/history.py)
            # Types compared with ``type(event) is``/``in``, not isinstance: each isinstance of a pydantic model costs
            # ~0.15 us (its metaclass's check), several per event; the concrete event classes have no subclasses.
            for item in fresh:
                event = item.event
                kind = type(event)
                job_id = event.job_id
                # A queue's, from the queue-settings topic: no job. (isinstance after the exact type: for the type
                # checker, and fast when the type is exact.)
                if kind is QueueSettingsChanged and isinstance(event, QueueSettingsChanged):
                    queue_settings.append(event)
                    stored[(item.topic, item.partition)] = item.offset + 1
                    continue
                before = views.get(job_id)
                after = evolve(before, event)
                views[job_id] = after
                if (job := after or before) is not None and not (after is before and kind in _CREATION):
                    # The job's (evolve refused another tenant's event above); not the same creation again.
                    history.add(event, job.api, item.partition, item.offset)
                elif job is None and job_id in purged:
                    history.add(event, "recuro", item.partition, item.offset)  # retry chains are Recuro's
                dead_writes.fold(event, before, after)
                alert_writes.add(event)
                if kind is JobPushed and after is not None and isinstance(event, JobPushed):
                    writes.queues.setdefault(
                        event.queue_id,
                        dict(queue_id=event.queue_id, tenant=event.tenant, name=event.queue, created_at=now),
                    )
                    pushed = writes.pushed_at.get(event.queue_id, event.occurred_at)
                    writes.pushed_at[event.queue_id] = max(event.occurred_at, pushed)
                if kind in _RESULTS and after is not None and isinstance(event, _RESULT):  # (exact type: fast)
                    run = run_view(event)
                    if run.run_id not in known_runs:  # else a redelivered result of a run already recorded
                        known_runs.add(run.run_id)
                        writes.run(run)
                if kind in _REMOVALS:
                    writes.deleted(job_id)
                stored[(item.topic, item.partition)] = item.offset + 1
            writes.flush(conn, views, existed)
            write_queue_settings(conn, queue_settings)
            alert_writes.flush(conn)
            for job_id in dead_writes.flush(conn):  # chains purged: no view of them may stay cached
                views[job_id] = None
            history.flush(conn)
            for (topic, partition), nxt in stored.items():
                self._store_offset(conn, consumer, topic, partition, nxt)
        # Committed: only now may the cache hold the new views.
        for job_id, view in views.items():
            self._cache[job_id] = view
            self._cache.move_to_end(job_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def skip(self, consumer: str, topic: str, partition: int, offset: int) -> None:
        """Move ``consumer``'s stored offset past a record it set aside (never backwards)."""
        with self.engine.begin() as conn:
            if self._offsets(conn, consumer).get((topic, partition), 0) <= offset:
                self._store_offset(conn, consumer, topic, partition, offset + 1)

    def remove_queue(
        self,
        consumer: str,
        where: tuple[str, int, int],
        tenant: str,
        queue_id: int,
        deleted_at: datetime | None,
    ) -> None:
        """Fold a queue's tombstone at ``where`` (topic, partition, offset; decision 0030): its row goes with its
        settings, and ``consumer``'s offset moves past it, in one transaction (``chronohook.readmodel.queues``)."""
        topic, partition, offset = where
        with self.engine.begin() as conn:
            if self._offsets(conn, consumer).get((topic, partition), 0) > offset:
                return  # applied before
            remove_queue(conn, tenant, queue_id, deleted_at)
            self._store_offset(conn, consumer, topic, partition, offset + 1)

    def _load_many(self, conn: Connection, job_ids: set[str]) -> dict[str, JobView]:
        found: dict[str, JobView] = {}
        ids = sorted(job_ids)
        for start in range(0, len(ids), IN_CHUNK):
            query = select(jobs.c.job_id, jobs.c.doc).where(jobs.c.job_id.in_(ids[start : start + IN_CHUNK]))
            for job_id, doc in conn.execute(query):
                found[job_id] = JobView.model_validate(_doc(doc))
        return found

    def _existing_runs(self, conn: Connection, run_ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(run_ids), IN_CHUNK):
            query = select(job_runs.c.run_id).where(job_runs.c.run_id.in_(run_ids[start : start + IN_CHUNK]))
            found.update(r[0] for r in conn.execute(query))
        return found

    def _offsets(self, conn: Connection, consumer: str) -> dict[tuple[str, int], int]:
        rows = conn.execute(
            select(consumer_offsets.c.topic, consumer_offsets.c.partition, consumer_offsets.c.next_offset).where(
                consumer_offsets.c.consumer == consumer
            )
        )
        return {(r[0], r[1]): r[2] for r in rows}

    def _store_offset(self, conn: Connection, consumer: str, topic: str, partition: int, nxt: int) -> None:
        where = and_(
            consumer_offsets.c.consumer == consumer,
            consumer_offsets.c.topic == topic,
            consumer_offsets.c.partition == partition,
        )
        if conn.execute(update(consumer_offsets).where(where).values(next_offset=nxt)).rowcount == 0:
            conn.execute(
                insert(consumer_offsets).values(consumer=consumer, topic=topic, partition=partition, next_offset=nxt)
            )

    # -- reads (ingest, projector start) -----------------------------------------------------------------------
    def offsets(self, consumer: str) -> dict[tuple[str, int], int]:
        with self.engine.connect() as conn:
            return self._offsets(conn, consumer)

    def job(self, tenant: str, job_id: str) -> JobView | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(jobs.c.doc).where(and_(jobs.c.job_id == job_id, jobs.c.tenant == tenant))).first()
        return None if row is None else JobView.model_validate(_doc(row[0]))

    def jobs(self, tenant: str, api: str, limit: int, offset: int) -> list[JobView]:
        query = (
            select(jobs.c.doc)
            .where(and_(jobs.c.tenant == tenant, jobs.c.api == api))
            .order_by(jobs.c.created_at, jobs.c.job_id)
            .limit(limit)
            .offset(offset)
        )
        with self.engine.connect() as conn:
            return [JobView.model_validate(_doc(r[0])) for r in conn.execute(query)]

    def runs(self, job_id: str) -> list[RunView]:
        query = select(job_runs.c.doc).where(job_runs.c.job_id == job_id).order_by(job_runs.c.executed_at)
        with self.engine.connect() as conn:
            return [RunView.model_validate(_doc(r[0])) for r in conn.execute(query)]


IN_CHUNK = 500  # ids per IN (...): well under SQLite's bound-parameter limit


class _Writes:
    """One batch's writes, gathered in event order and sent as one executemany per kind.

    The rows of ``jobs`` and ``job_runs`` go to the driver's executemany ready made, as the history rows do
    (readmodel/history.py): SQLAlchemy's per-row parameter processing (a compiled insert's parameters, the DateTime
    and JSON bind processors) was ~5% of a replay's profile."""

    def __init__(self, sqlite: bool) -> None:
        self.sqlite = sqlite
        self.queues: dict[int, dict[str, Any]] = {}
        self.pushed_at: dict[int, datetime] = {}  # each queue's latest push in the batch (decision 0030)
        self.runs: list[tuple[Any, ...]] = []  # (run_id, job_id, attempt, executed_at, doc)
        self.deleted_jobs: list[str] = []

    def _time(self, at: datetime) -> datetime | str:
        # SQLite: as SQLAlchemy's SQLite DateTime stores it (and reads it back): the fields as given, no zone.
        return at.replace(tzinfo=None).isoformat(" ", "microseconds") if self.sqlite else at

    def _sql(self, statement: str) -> str:
        return statement if self.sqlite else statement.replace("?", "%s")  # psycopg's placeholders

    def run(self, run: RunView) -> None:
        self.runs.append((run.run_id, run.job_id, run.attempt, self._time(run.executed_at), run.model_dump_json()))

    def deleted(self, job_id: str) -> None:
        # A deleted job's runs go, including any recorded earlier in this very batch.
        self.deleted_jobs.append(job_id)
        self.runs = [r for r in self.runs if r[1] != job_id]

    def flush(self, conn: Connection, views: dict[str, JobView | None], existed: set[str]) -> None:
        for start in range(0, len(self.deleted_jobs), IN_CHUNK):
            chunk = self.deleted_jobs[start : start + IN_CHUNK]
            conn.execute(delete(job_runs).where(job_runs.c.job_id.in_(chunk)))
            conn.execute(delete(job_names).where(job_names.c.job_id.in_(chunk)))
        if self.queues:
            # Projectors of other partitions may create the same queue at the same moment: the database decides.
            upsert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            # Not a queue deleted after its pushes here (folded out of order with its tombstone, decision 0030).
            gone = deleted_since(conn, [(r["tenant"], q, self.pushed_at[q]) for q, r in self.queues.items()])
            rows = [r for q, r in self.queues.items() if q not in gone]
            if rows:
                conn.execute(upsert(queues).on_conflict_do_nothing(), rows)
        if self.runs:
            conn.exec_driver_sql(self._sql(_INSERT_RUN), self.runs)
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[str, str]] = []
        deletes: list[str] = []
        for job_id, view in views.items():
            if view is None:
                if job_id in existed:
                    deletes.append(job_id)
            elif job_id in existed:
                updates.append((view.model_dump_json(), job_id))
            else:
                created = self._time(view.created_at)
                inserts.append((job_id, view.tenant, view.api, view.integer_id, created, view.model_dump_json()))
        if inserts:
            conn.exec_driver_sql(self._sql(_INSERT_JOB), inserts)
        if updates:
            conn.exec_driver_sql(self._sql(_UPDATE_JOB), updates)
        for start in range(0, len(deletes), IN_CHUNK):
            conn.execute(delete(jobs).where(jobs.c.job_id.in_(deletes[start : start + IN_CHUNK])))


# In SQLite's placeholders; _Writes._sql gives psycopg's. A JSON document goes as its text (pydantic-core's).
_INSERT_RUN = "INSERT INTO job_runs (run_id, job_id, attempt, executed_at, doc) VALUES (?, ?, ?, ?, ?)"
_INSERT_JOB = "INSERT INTO jobs (job_id, tenant, api, integer_id, created_at, doc) VALUES (?, ?, ?, ?, ?, ?)"
_UPDATE_JOB = "UPDATE jobs SET doc = ? WHERE job_id = ?"

_CREATION: frozenset[type] = frozenset((JobCreated, JobPushed))
_RESULT = (JobSucceeded, JobFailed)
_RESULTS: frozenset[type] = frozenset(_RESULT)
_REMOVALS: frozenset[type] = frozenset({JobDeleted, JobPurged})


def _doc(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
