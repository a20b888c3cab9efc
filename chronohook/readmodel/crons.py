"""A tenant's Recuro crons, a page at a time, oldest first (``GET /api/crons``)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Engine, and_, func, select

from chronohook.readmodel.runs import MAX_OFFSET
from chronohook.readmodel.views import JobView
from chronohook.store.tables import jobs

CRON_API = "recuro_cron"


@dataclass(frozen=True)
class CronPage:
    crons: list[JobView]
    total: int


def crons_page(engine: Engine, tenant: str, limit: int, offset: int) -> CronPage:
    """``limit`` of ``tenant``'s crons after skipping ``offset``, in creation order (ids ascend with it)."""
    mine = and_(jobs.c.tenant == tenant, jobs.c.api == CRON_API)
    query = (
        select(jobs.c.doc)
        .where(mine)
        .order_by(jobs.c.created_at, jobs.c.job_id)
        .limit(limit)
        .offset(min(offset, MAX_OFFSET))
    )
    count = select(func.count()).select_from(jobs).where(mine)
    with engine.connect() as conn:
        crons = [JobView.model_validate(_doc(r[0])) for r in conn.execute(query)]
        total = int(conn.execute(count).scalar_one())
    return CronPage(crons, total)


def _doc(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value
