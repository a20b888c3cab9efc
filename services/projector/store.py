"""The read-model store: the projector writes batches (rows + consumed offsets in one transaction); ingest reads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from chronohook.store.tables import callback_outbox, consumer_offsets, job_names, job_runs, jobs, queues
from schemas.events import Event, JobDeleted, JobFailed, JobPushed, JobSucceeded
from services.projector.callbacks import callback_body
from services.projector.views import JobView, RunView, evolve, run_view


@dataclass(frozen=True)
class Consumed:
    topic: str
    partition: int
    offset: int
    event: Event


class ReadModelStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- writes (projector) ------------------------------------------------------------------------------------
    def apply(self, consumer: str, batch: list[Consumed], now: datetime) -> list[str]:
        """Fold ``batch`` into the views and store the next offsets, atomically. Returns new callback ids."""
        views: dict[str, JobView | None] = {}
        stored_before: set[str] = set()  # jobs that already had a row when this batch began
        new_callbacks: list[str] = []
        with self.engine.begin() as conn:
            stored = self._offsets(conn, consumer)
            for item in batch:
                if item.offset < stored.get((item.topic, item.partition), 0):
                    continue  # applied in an earlier transaction
                event = item.event
                job_id = event.job_id
                if job_id in views:
                    before = views[job_id]
                else:
                    before = self._load(conn, job_id)
                    if before is not None:
                        stored_before.add(job_id)
                after = evolve(before, event)
                views[job_id] = after
                if isinstance(event, JobPushed) and after is not None:
                    self._ensure_queue(conn, event, now)
                if isinstance(event, JobSucceeded | JobFailed) and after is not None:
                    run = run_view(event)
                    if self._insert_run(conn, run) and after.callback_url:
                        new_callbacks.append(self._enqueue_callback(conn, after, run, now))
                if isinstance(event, JobDeleted):
                    conn.execute(delete(job_runs).where(job_runs.c.job_id == job_id))
                    conn.execute(delete(job_names).where(job_names.c.job_id == job_id))
                stored[(item.topic, item.partition)] = item.offset + 1
            for job_id, view in views.items():
                self._save(conn, job_id, view, exists=job_id in stored_before)
            for (topic, partition), nxt in stored.items():
                self._store_offset(conn, consumer, topic, partition, nxt)
        return new_callbacks

    def _load(self, conn: Connection, job_id: str) -> JobView | None:
        row = conn.execute(select(jobs.c.doc).where(jobs.c.job_id == job_id)).first()
        return None if row is None else JobView.model_validate(_doc(row[0]))

    def _save(self, conn: Connection, job_id: str, view: JobView | None, exists: bool) -> None:
        if view is None:
            if exists:
                conn.execute(delete(jobs).where(jobs.c.job_id == job_id))
            return
        doc = view.model_dump(mode="json")
        if exists:
            conn.execute(update(jobs).where(jobs.c.job_id == job_id).values(doc=doc))
        else:
            conn.execute(
                insert(jobs).values(
                    job_id=job_id,
                    tenant=view.tenant,
                    api=view.api,
                    integer_id=view.integer_id,
                    created_at=view.created_at,
                    doc=doc,
                )
            )

    def _insert_run(self, conn: Connection, run: RunView) -> bool:
        if conn.execute(select(job_runs.c.run_id).where(job_runs.c.run_id == run.run_id)).first() is not None:
            return False  # a redelivered result of a run already recorded
        conn.execute(
            insert(job_runs).values(
                run_id=run.run_id,
                job_id=run.job_id,
                attempt=run.attempt,
                executed_at=run.executed_at,
                doc=run.model_dump(mode="json"),
            )
        )
        return True

    def _ensure_queue(self, conn: Connection, event: JobPushed, now: datetime) -> None:
        # Projectors of other partitions may create the same queue at the same moment: let the database decide.
        values = dict(queue_id=event.queue_id, tenant=event.tenant, name=event.queue, created_at=now)
        if conn.dialect.name == "postgresql":
            conn.execute(pg_insert(queues).values(**values).on_conflict_do_nothing())
        else:
            conn.execute(sqlite_insert(queues).values(**values).on_conflict_do_nothing())

    def _enqueue_callback(self, conn: Connection, view: JobView, run: RunView, now: datetime) -> str:
        callback_id = f"cb:{run.run_id}"
        assert view.callback_url is not None
        conn.execute(
            insert(callback_outbox).values(
                callback_id=callback_id,
                job_id=view.job_id,
                url=view.callback_url,
                body=json.dumps(callback_body(view, run)),
                created_at=now,
                attempts=0,
                next_attempt_at=now,
                done=False,
            )
        )
        return callback_id

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

    def due_callbacks(self, now: datetime, limit: int = 100) -> list[dict[str, Any]]:
        query = (
            select(callback_outbox)
            .where(and_(callback_outbox.c.done.is_(False), callback_outbox.c.next_attempt_at <= now))
            .order_by(callback_outbox.c.next_attempt_at)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def callback_attempted(self, callback_id: str, values: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(callback_outbox).where(callback_outbox.c.callback_id == callback_id).values(**values))


def _doc(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
