"""Counts over the read model that admission control needs (ingest's per-tenant pending-job cap)."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from chronohook.store.tables import jobs

# A job in one of these states will not run again (views.py: QuedUp one-offs and Recuro queue jobs end so; crons never
# do). A Recuro job that failed and is retried counts through its retry job, which is a row of its own.
FINISHED = ("completed", "failed")


def pending_jobs(engine: Engine, tenant: str, exact_from: int = 0) -> int:
    """How many of ``tenant``'s jobs may still run: exact when that is at least ``exact_from``, else a bound above it.

    Counting a tenant's rows reads only the (tenant, ...) index; telling finished jobs apart reads every document, so
    that is done only when the cheap count reaches ``exact_from`` (a caller comparing with a cap passes the cap, or
    a little less).
    """
    with engine.connect() as conn:
        every = int(conn.execute(select(func.count()).select_from(jobs).where(jobs.c.tenant == tenant)).scalar_one())
        if every < exact_from:
            return every
        unfinished = jobs.c.doc["status"].as_string().not_in(FINISHED)
        query = select(func.count()).select_from(jobs).where(jobs.c.tenant == tenant, unfinished)
        return int(conn.execute(query).scalar_one())
