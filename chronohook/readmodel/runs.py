"""A job's recorded runs, a page at a time, newest first (``GET /api/jobs/{id}/runs``, ``/jobs/{id}/runs``, ...)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Engine, and_, func, select

from chronohook.readmodel.views import RunView
from chronohook.store.tables import job_runs, jobs

# The most a database's OFFSET holds (a signed 64-bit integer): a page past it is empty, however far.
MAX_OFFSET = 2**63 - 1


@dataclass(frozen=True)
class RunPage:
    runs: list[RunView]
    total: int


def runs_page(engine: Engine, tenant: str, job_ids: list[str], limit: int, offset: int) -> RunPage:
    """``limit`` runs of ``tenant``'s jobs ``job_ids`` (a job, or a Recuro retry chain) after skipping ``offset``,
    newest first, and how many there are.

    Joined with the jobs' rows so a run is only ever read through its owner's job (another tenant's: none).
    Reads the (job_id, executed_at) index; the run id breaks ties so pages never overlap.
    """
    owned = and_(job_runs.c.job_id.in_(job_ids), jobs.c.tenant == tenant)
    joined = job_runs.join(jobs, jobs.c.job_id == job_runs.c.job_id)
    query = (
        select(job_runs.c.doc)
        .select_from(joined)
        .where(owned)
        .order_by(job_runs.c.executed_at.desc(), job_runs.c.run_id.desc())
        .limit(limit)
        .offset(min(offset, MAX_OFFSET))
    )
    count = select(func.count()).select_from(joined).where(owned)
    with engine.connect() as conn:
        runs = [RunView.model_validate(_doc(r[0])) for r in conn.execute(query)]
        total = int(conn.execute(count).scalar_one())
    return RunPage(runs, total)


def _doc(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value
