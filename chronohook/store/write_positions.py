"""Each tenant's last write position per log partition (``tenant_write_positions``; decision 0035).

Ingest raises a tenant's positions after each append, before it answers the write; a read asks which of its tenant's
positions the projector has not applied yet. Both work on SQLite and PostgreSQL, which every API process shares.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from chronohook.store.tables import consumer_offsets, tenant_write_positions

Position = tuple[str, int, int]  # (topic, partition, offset)
WriteKey = tuple[str, str, int]  # (tenant, topic, partition)


def advance(engine: Engine, positions: Mapping[WriteKey, int]) -> None:
    """Raise each (tenant, topic, partition)'s stored offset to the one given, never lowering it; one transaction."""
    if not positions:
        return
    rows = [dict(tenant=t, topic=topic, partition=p, log_offset=o) for (t, topic, p), o in sorted(positions.items())]
    table = tenant_write_positions
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            lite = sqlite_insert(table)
            most = func.max(table.c.log_offset, lite.excluded.log_offset)  # two arguments: SQLite's scalar max
            conn.execute(lite.on_conflict_do_update(index_elements=_KEY, set_={"log_offset": most}), rows)
        else:
            pg = pg_insert(table)
            higher = func.greatest(table.c.log_offset, pg.excluded.log_offset)
            conn.execute(pg.on_conflict_do_update(index_elements=_KEY, set_={"log_offset": higher}), rows)


_KEY = ["tenant", "topic", "partition"]


def unapplied(engine: Engine, tenant: str, consumer: str) -> list[Position]:
    """``tenant``'s write positions that ``consumer`` (the projector) has not applied yet; [] when it is caught up.

    One indexed query: the tenant's rows (a few per partition) against the consumer's next offsets."""
    w, c = tenant_write_positions, consumer_offsets
    joined = w.outerjoin(c, and_(c.c.consumer == consumer, c.c.topic == w.c.topic, c.c.partition == w.c.partition))
    query = (
        select(w.c.topic, w.c.partition, w.c.log_offset)
        .select_from(joined)
        .where(w.c.tenant == tenant, or_(c.c.next_offset.is_(None), c.c.next_offset <= w.c.log_offset))
    )
    with engine.connect() as conn:
        return [(r[0], r[1], r[2]) for r in conn.execute(query)]
