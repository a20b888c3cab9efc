"""One Recuro queue's figures (``GET /api/queues/{name}/stats``): its jobs counted by status, and its runs over a
window — how many, how many succeeded, and how late they started.

Counts are one GROUP BY over the tenant's Recuro rows of ``jobs`` (the ``(tenant, api, created_at)`` index, the
queue and status read from the documents, as ``job_list`` filters them). Runs are the window's rows of
``job_runs`` joined to those jobs: each job's runs are found by the ``(job_id, executed_at)`` index, so the cost
grows with the tenant's Recuro jobs, not with the table (decision 0046). No new index, so no migration.

Lateness is ``started_at - due_at`` of each run, read from the run's document: both are stored with microseconds
(the ``RunOutcome``'s instants), so milliseconds are exact; a run that started before it was due counts as 0.
The percentiles are nearest-rank over the window's runs, computed here (the same on SQLite and PostgreSQL).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, select

from chronohook.store.tables import job_runs, jobs


@dataclass(frozen=True)
class Lateness:
    p50_ms: float
    p95_ms: float
    max_ms: float


@dataclass(frozen=True)
class QueueStats:
    counts: dict[str, int]
    window_s: int
    runs: int
    successes: int
    failures: int
    runs_per_minute: float
    lateness: Lateness | None  # None when no run fell in the window


def queue_stats(engine: Engine, tenant: str, queue: str, now: datetime, window_s: int) -> QueueStats:
    """``tenant``'s queue ``queue``: its jobs by status (exact), and its runs executed after ``now - window_s`` (no
    upper bound: a run recorded by an executor whose clock is a little ahead of this one still counts)."""
    in_queue = and_(jobs.c.tenant == tenant, jobs.c.api == "recuro", jobs.c.doc["queue"].as_string() == queue)
    status = jobs.c.doc["status"].as_string()
    since = _stored_time(engine, now - timedelta(seconds=window_s))
    runs_query = (
        select(
            job_runs.c.doc["success"].as_boolean(),
            job_runs.c.doc["due_at"].as_string(),
            job_runs.c.doc["started_at"].as_string(),
        )
        .select_from(jobs.join(job_runs, job_runs.c.job_id == jobs.c.job_id))
        .where(in_queue, job_runs.c.executed_at > since)
    )
    with engine.connect() as conn:
        counts = {
            str(s): int(n) for s, n in conn.execute(select(status, func.count()).where(in_queue).group_by(status))
        }
        rows = conn.execute(runs_query).all()
    successes = sum(1 for ok, _, _ in rows if _truthy(ok))
    late = sorted(max(0.0, (_instant(started) - _instant(due)).total_seconds() * 1000) for _, due, started in rows)
    return QueueStats(
        counts=counts,
        window_s=window_s,
        runs=len(rows),
        successes=successes,
        failures=len(rows) - successes,
        runs_per_minute=round(len(rows) * 60 / window_s, 3),
        lateness=Lateness(_rank(late, 0.50), _rank(late, 0.95), round(late[-1], 3)) if late else None,
    )


def _rank(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending, non-empty list."""
    return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 3)


def _instant(value: Any) -> datetime:
    at = datetime.fromisoformat(json.loads(value) if isinstance(value, str) and value.startswith('"') else value)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _truthy(value: Any) -> bool:
    return value in (True, 1, "true", "1")


def _stored_time(engine: Engine, at: datetime) -> datetime:
    # SQLite keeps the UTC wall-clock fields with no zone (store.py's _Writes._time): compare like with like.
    return at.astimezone(UTC).replace(tzinfo=None) if engine.dialect.name == "sqlite" else at.astimezone(UTC)
