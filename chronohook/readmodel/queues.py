"""Recuro queues in the read model: a row per queue (created by its first push or its first settings change), with
the settings in force (decision 0015). The projector writes; ingest reads, tenant-scoped."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from chronohook.store.engine import RawJson
from chronohook.store.tables import deleted_queues, jobs, queues
from schemas.events import QueueSettings, QueueSettingsChanged


class QueueView(BaseModel):
    model_config = ConfigDict(frozen=True)

    queue_id: int
    tenant: str
    name: str
    settings: QueueSettings
    created_at: AwareDatetime
    updated_at: AwareDatetime


def write_queue_settings(conn: Connection, changes: Sequence[QueueSettingsChanged]) -> None:
    """Each queue's row takes its latest settings (created if the queue had none yet), in the order given.

    Upserts, so the projectors of the job log's partitions (which create a queue's row on a push, doing nothing
    if it exists) and this one never undo each other. A row of another tenant that has the same queue id (a 53-bit
    hash) is left alone: the ``where`` keeps one tenant's change from touching another's queue.
    """
    latest: dict[int, QueueSettingsChanged] = {}
    for change in changes:
        latest.pop(change.queue_id, None)
        latest[change.queue_id] = change
    if not latest:
        return
    upsert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    for change in latest.values():
        stmt = upsert(queues).values(
            queue_id=change.queue_id,
            tenant=change.tenant,
            name=change.queue,
            created_at=change.occurred_at,
            settings=RawJson(change.settings.model_dump_json()),
            updated_at=change.occurred_at,
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[queues.c.queue_id],
                set_={"settings": stmt.excluded.settings, "updated_at": stmt.excluded.updated_at},
                where=and_(queues.c.tenant == stmt.excluded.tenant, queues.c.name == stmt.excluded.name),
            )
        )


def remove_queue(conn: Connection, tenant: str, queue_id: int, deleted_at: datetime | None) -> None:
    """A queue's tombstone (decision 0030), deleted at ``deleted_at`` (None: a tombstone without its time, taken as
    final): its row goes with its settings, and the deletion is remembered so a push older than it, folded later
    (the job log and the queue-settings topic come in no mutual order), does not bring the queue back. A push at or
    after the deletion, folded before it, keeps the queue, with its settings forgotten (Recuro's defaults): the
    result is the same in whatever order the two topics are folded."""
    mine = and_(queues.c.tenant == tenant, queues.c.queue_id == queue_id)
    if deleted_at is not None:
        _remember_deletion(conn, tenant, queue_id, deleted_at)
        row = conn.execute(select(queues.c.name).where(mine)).first()
        if row is not None and _pushed_since(conn, tenant, row.name, deleted_at):
            conn.execute(update(queues).where(mine).values(settings=None, updated_at=None))
            return
    conn.execute(delete(queues).where(mine))


def deleted_since(conn: Connection, pushes: Sequence[tuple[str, int, datetime]]) -> set[int]:
    """The queue ids among ``pushes`` (tenant, queue id, latest push) deleted after that push (decision 0030)."""
    ids = sorted({q for _, q, _ in pushes})
    found: dict[tuple[str, int], datetime] = {}
    for start in range(0, len(ids), 500):
        query = select(deleted_queues).where(deleted_queues.c.queue_id.in_(ids[start : start + 500]))
        for row in conn.execute(query):
            found[(row.tenant, row.queue_id)] = _aware(row.deleted_at)
    return {q for tenant, q, pushed in pushes if (at := found.get((tenant, q))) is not None and at > pushed}


def _remember_deletion(conn: Connection, tenant: str, queue_id: int, deleted_at: datetime) -> None:
    key = and_(deleted_queues.c.tenant == tenant, deleted_queues.c.queue_id == queue_id)
    before = conn.execute(select(deleted_queues.c.deleted_at).where(key)).scalar_one_or_none()
    if before is None:
        conn.execute(insert(deleted_queues).values(tenant=tenant, queue_id=queue_id, deleted_at=deleted_at))
    elif _aware(before) < deleted_at:
        conn.execute(update(deleted_queues).where(key).values(deleted_at=deleted_at))


def _pushed_since(conn: Connection, tenant: str, name: str, at: datetime) -> bool:
    """Whether a job was pushed to ``tenant``'s queue ``name`` at or after ``at`` (the (tenant, api, created_at)
    index, then the documents of those jobs)."""
    query = select(jobs.c.job_id).where(
        jobs.c.tenant == tenant,
        jobs.c.api == "recuro",
        jobs.c.created_at >= at,
        jobs.c.doc["queue"].as_string() == name,
    )
    return conn.execute(query.limit(1)).first() is not None


def _view(row: Any) -> QueueView:
    doc = row.settings
    settings = QueueSettings() if doc is None else QueueSettings.model_validate(_doc(doc))
    return QueueView(
        queue_id=row.queue_id,
        tenant=row.tenant,
        name=row.name,
        settings=settings,
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at or row.created_at),
    )


def queue_by_name(engine: Engine, tenant: str, name: str) -> QueueView | None:
    query = select(queues).where(and_(queues.c.tenant == tenant, queues.c.name == name))
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else _view(row)


def queues_page(engine: Engine, tenant: str, limit: int, offset: int) -> tuple[list[QueueView], int]:
    """A page of the tenant's queues, oldest first (then by name), and how many it has in all."""
    query = (
        select(queues)
        .where(queues.c.tenant == tenant)
        .order_by(queues.c.created_at, queues.c.name)
        .limit(limit)
        .offset(offset)
    )
    with engine.connect() as conn:
        rows = [_view(r) for r in conn.execute(query)]
        total = conn.execute(select(func.count()).select_from(queues).where(queues.c.tenant == tenant)).scalar_one()
    return rows, int(total)


def _doc(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _aware(value: Any) -> Any:
    # SQLite hands DateTime(timezone=True) back naive; every time here was written in UTC.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
