"""Recuro queues in the read model: a row per queue (created by its first push or its first settings change), with
the settings in force (decision 0015). The projector writes; ingest reads, tenant-scoped."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy import Connection, Engine, and_, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from chronohook.store.engine import RawJson
from chronohook.store.tables import queues
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
