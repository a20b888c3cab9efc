"""A tenant's Recuro queue jobs, newest first, a keyset page at a time (``GET /api/jobs``).

A page is asked for from a ``Position`` (a job's creation instant and id, the sort key) in a direction: ``next``
reads the jobs after it (older), ``prev`` the jobs before it (newer), and the page is always returned newest first.
No OFFSET: a page costs the same however deep, and a job created while someone pages never shifts the pages after.

Reads the ``(tenant, api, created_at)`` index, which the creation-time filters narrow too; the queue, status and URL
filters are read from the rows' documents (as ``counts.pending_in_queue`` does): no index of their own, so no
migration (decision 0046 measures them). A Recuro job has no name: the text filter is a case-insensitive substring of
its URL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Engine, and_, func, or_, select

from chronohook.readmodel.views import JobView, RunView
from chronohook.store.tables import job_runs, jobs

Direction = Literal["next", "prev"]
IN_CHUNK = 500


@dataclass(frozen=True)
class Position:
    """A job's place in the order: its creation instant (UTC) and its id (which breaks ties)."""

    created_at: datetime
    job_id: str


@dataclass(frozen=True)
class JobFilter:
    queue: str | None = None
    status: str | None = None
    url: str | None = None  # a substring of the job's URL, any case
    created_after: datetime | None = None  # created at or after
    created_before: datetime | None = None  # created strictly before


@dataclass(frozen=True)
class JobSlice:
    """The jobs of one page, newest first, and whether more lie beyond it in the direction it was read."""

    jobs: list[JobView]
    more: bool


def position(view: JobView) -> Position:
    return Position(view.created_at.astimezone(UTC), view.job_id)


def recuro_jobs_page(
    engine: Engine,
    tenant: str,
    where: JobFilter,
    limit: int,
    after: Position | None = None,
    direction: Direction = "next",
) -> JobSlice:
    """Up to ``limit`` of ``tenant``'s Recuro queue jobs matching ``where``, beyond ``after`` in ``direction``."""
    conditions: list[Any] = [jobs.c.tenant == tenant, jobs.c.api == "recuro"]
    if where.queue is not None:
        conditions.append(jobs.c.doc["queue"].as_string() == where.queue)
    if where.status is not None:
        conditions.append(jobs.c.doc["status"].as_string() == where.status)
    if where.url is not None:
        url = func.lower(jobs.c.doc[("request", "url")].as_string())
        conditions.append(url.contains(where.url.lower(), autoescape=True))
    if where.created_after is not None:
        conditions.append(jobs.c.created_at >= _stored_time(engine, where.created_after))
    if where.created_before is not None:
        conditions.append(jobs.c.created_at < _stored_time(engine, where.created_before))
    order = (jobs.c.created_at.desc(), jobs.c.job_id.desc())
    if after is not None:
        at = _stored_time(engine, after.created_at)
        if direction == "next":
            conditions.append(or_(jobs.c.created_at < at, and_(jobs.c.created_at == at, jobs.c.job_id < after.job_id)))
        else:
            conditions.append(or_(jobs.c.created_at > at, and_(jobs.c.created_at == at, jobs.c.job_id > after.job_id)))
            order = (jobs.c.created_at.asc(), jobs.c.job_id.asc())
    query = select(jobs.c.doc).where(and_(*conditions)).order_by(*order).limit(limit + 1)
    with engine.connect() as conn:
        views = [JobView.model_validate(_doc(r[0])) for r in conn.execute(query)]
    more = len(views) > limit
    views = views[:limit]
    if after is not None and direction == "prev":
        views.reverse()
    return JobSlice(views, more)


def runs_of(engine: Engine, job_ids: list[str]) -> dict[str, list[RunView]]:
    """Each job's recorded runs, oldest first (as ``ReadModelStore.runs`` gives one job's), in one query per chunk."""
    found: dict[str, list[RunView]] = {j: [] for j in job_ids}
    with engine.connect() as conn:
        for start in range(0, len(job_ids), IN_CHUNK):
            chunk = job_ids[start : start + IN_CHUNK]
            query = (
                select(job_runs.c.doc)
                .where(job_runs.c.job_id.in_(chunk))
                .order_by(job_runs.c.executed_at, job_runs.c.run_id)
            )
            for (doc,) in conn.execute(query):
                run = RunView.model_validate(_doc(doc))
                found[run.job_id].append(run)
    return found


def _stored_time(engine: Engine, at: datetime) -> datetime:
    # SQLite keeps the UTC wall-clock fields with no zone (store.py's _Writes._time): compare like with like.
    return at.astimezone(UTC).replace(tzinfo=None) if engine.dialect.name == "sqlite" else at.astimezone(UTC)


def _doc(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
