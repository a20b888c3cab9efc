"""Counts over the read model that admission control needs (ingest's per-tenant pending-job cap, and the caps on
schedules and queues of decision 0030)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select

from chronohook.store.tables import jobs, queues

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


# -- tenant caps (decision 0030) ----------------------------------------------------------------------------------
# The APIs whose jobs may carry a schedule: QuedUp's (a job with ``schedule``) and Recuro's crons.
SCHEDULED_APIS = ("quedup", "recuro_cron")


def _active_schedule_rows(tenant: str) -> Any:
    expression = jobs.c.doc["schedule"].as_string()
    paused = jobs.c.doc["paused"].as_boolean()
    mine = and_(jobs.c.tenant == tenant, jobs.c.api.in_(SCHEDULED_APIS))
    return expression, and_(mine, expression.is_not(None), expression != "", or_(paused.is_(None), paused.is_(False)))


def active_schedules(engine: Engine, tenant: str) -> list[tuple[str, int]]:
    """``tenant``'s active schedules (not paused, not deleted): each expression and how many jobs run on it.

    Reads the (tenant, api) index, then the documents of the tenant's QuedUp jobs and crons (their JSON holds the
    schedule and the pause): ~25 ms for 20,000 jobs of one tenant on SQLite (decision 0030).
    """
    expression, where = _active_schedule_rows(tenant)
    query = select(expression, func.count()).where(where).group_by(expression)
    with engine.connect() as conn:
        return [(str(e), int(n)) for e, n in conn.execute(query)]


def active_schedule_ids(engine: Engine, tenant: str) -> list[str]:
    """The job ids of ``tenant``'s active schedules, oldest first (``chronohook tenants suspend``)."""
    _, where = _active_schedule_rows(tenant)
    query = select(jobs.c.job_id).where(where).order_by(jobs.c.created_at, jobs.c.job_id)
    with engine.connect() as conn:
        return [str(r[0]) for r in conn.execute(query)]


def suspended_ids(engine: Engine, tenant: str) -> list[str]:
    """The job ids of ``tenant``'s schedules an operator paused and nobody resumed since (``tenants resume``)."""
    by = jobs.c.doc["paused_by"].as_string()
    paused = jobs.c.doc["paused"].as_boolean()
    mine = and_(jobs.c.tenant == tenant, jobs.c.api.in_(SCHEDULED_APIS))
    query = select(jobs.c.job_id).where(mine, by == "operator", paused.is_(True)).order_by(jobs.c.created_at)
    with engine.connect() as conn:
        return [str(r[0]) for r in conn.execute(query)]


def queue_count(engine: Engine, tenant: str) -> int:
    """How many queues ``tenant`` has (the (tenant, name) unique index only)."""
    query = select(func.count()).select_from(queues).where(queues.c.tenant == tenant)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def existing_queues(engine: Engine, tenant: str, names: Collection[str]) -> set[str]:
    """Which of ``names`` are queues ``tenant`` has."""
    found: set[str] = set()
    ordered = sorted(names)
    with engine.connect() as conn:
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            query = select(queues.c.name).where(queues.c.tenant == tenant, queues.c.name.in_(chunk))
            found.update(str(r[0]) for r in conn.execute(query))
    return found


def pending_in_queue(engine: Engine, tenant: str, queue: str) -> int:
    """How many of ``tenant``'s Recuro jobs in ``queue`` may still run (a queue holding any cannot be deleted).

    Reads the documents of the tenant's Recuro jobs (the queue is in their JSON).
    """
    in_queue = jobs.c.doc["queue"].as_string() == queue
    unfinished = jobs.c.doc["status"].as_string().not_in(FINISHED)
    query = select(func.count()).select_from(jobs).where(jobs.c.tenant == tenant, jobs.c.api == "recuro")
    with engine.connect() as conn:
        return int(conn.execute(query.where(in_queue, unfinished)).scalar_one())
