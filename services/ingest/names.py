"""Reserving job names: a unique row per (tenant, name), written before the event is published."""

from __future__ import annotations

from sqlalchemy import Engine, and_, delete, insert, select
from sqlalchemy.exc import IntegrityError

from chronohook.store.tables import job_names


def reserve(engine: Engine, tenant: str, name: str, job_id: str) -> bool:
    """True when the name was free (and is now held by ``job_id``), or is held by ``job_id`` already.

    The latter: a create repeated under one Idempotency-Key derives the same job id (decision 0019).
    """
    try:
        with engine.begin() as conn:
            conn.execute(insert(job_names).values(tenant=tenant, name=name, job_id=job_id))
    except IntegrityError:
        where = and_(job_names.c.tenant == tenant, job_names.c.name == name)
        with engine.connect() as conn:
            return conn.execute(select(job_names.c.job_id).where(where)).scalar() == job_id
    return True


def release(engine: Engine, tenant: str, name: str, job_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            delete(job_names).where(
                and_(job_names.c.tenant == tenant, job_names.c.name == name, job_names.c.job_id == job_id)
            )
        )
