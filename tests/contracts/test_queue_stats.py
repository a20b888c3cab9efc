"""One queue's figures (``chronohook.readmodel.queue_stats``), one contract on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from chronohook.readmodel.queue_stats import Lateness, queue_stats
from chronohook.readmodel.store import Consumed, ReadModelStore
from schemas.events import Event, HttpRequestSpec, JobFailed, JobPushed, JobSucceeded, RunOutcome

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(hours=2)
REQUEST = HttpRequestSpec(method="POST", url="http://127.0.0.1:9/x", body="{}")


def _pushed(job: int, tenant: str, queue: str) -> JobPushed:
    return JobPushed(
        event_id=f"e{tenant}{job}", job_id=f"rj_{job:04d}", tenant=tenant, occurred_at=T0, integer_id=job,
        queue=queue, queue_id=1 if queue == "a" else 2, request=REQUEST, scheduled_at=T0,
    )  # fmt: skip


def _ran(job: int, tenant: str, started: datetime, late_ms: float, ok: bool) -> JobSucceeded | JobFailed:
    outcome = RunOutcome(
        run_id=f"r{job}", attempt=1, due_at=started - timedelta(milliseconds=late_ms), started_at=started,
        finished_at=started + timedelta(milliseconds=5), duration_ms=5.0, request_headers={}, request_body=None,
        response_status=200 if ok else 500,
    )  # fmt: skip
    common = {"event_id": f"x{job}", "job_id": f"rj_{job:04d}", "tenant": tenant, "occurred_at": started}
    if ok:
        return JobSucceeded(**common, outcome=outcome)
    return JobFailed(**common, outcome=outcome, failure_reason="http_server_error")


def _store(engine: Engine, events: list[Event]) -> None:
    ReadModelStore(engine).apply("projector", [Consumed("t", 0, i, e) for i, e in enumerate(events)], T0)


def test_counts_by_status_and_the_windows_runs_and_lateness(engine: Engine) -> None:
    # Given t1's queue "a" with 6 jobs and "b" with 2, and t2's queue "a" with 3
    events: list[Event] = [_pushed(i, "t1", "a") for i in range(1, 7)]
    events += [_pushed(i, "t1", "b") for i in (7, 8)] + [_pushed(i, "t2", "a") for i in (9, 10, 11)]
    # And runs of a: 3 in the last hour (2 successes, 1 failure; 10.5, 20.25 and 400 ms late), 1 two hours ago;
    # of b one in the hour, of t2's a one in the hour
    events += [
        _ran(1, "t1", NOW - timedelta(minutes=10), 10.5, True),
        _ran(2, "t1", NOW - timedelta(minutes=20), 20.25, True),
        _ran(3, "t1", NOW - timedelta(minutes=30), 400, False),
        _ran(4, "t1", NOW - timedelta(minutes=110), 9000, True),
        _ran(7, "t1", NOW - timedelta(minutes=5), 7000, True),
        _ran(9, "t2", NOW - timedelta(minutes=5), 8000, True),
    ]
    _store(engine, events)
    # When t1's queue "a" is asked for its figures over the last hour
    stats = queue_stats(engine, "t1", "a", NOW, 3600)
    # Then the counts are exact per status, and only the hour's runs of that tenant's queue count
    assert sum(stats.counts.values()) == 6
    assert stats.counts.get("completed", 0) == 3 and stats.counts.get("failed", 0) == 1, stats.counts
    assert (stats.runs, stats.successes, stats.failures, stats.runs_per_minute) == (3, 2, 1, 0.05)
    # And lateness keeps the sub-millisecond precision of the runs' instants
    assert stats.lateness == Lateness(p50_ms=20.25, p95_ms=400.0, max_ms=400.0)
    # And a wider window takes in the older run; a queue without runs in the window has no lateness
    assert queue_stats(engine, "t1", "a", NOW, 86400).runs == 4
    empty = queue_stats(engine, "t1", "b", NOW + timedelta(hours=1), 600)
    assert empty.runs == 0 and empty.lateness is None and sum(empty.counts.values()) == 2
    # And another tenant's queue of the same name is its own
    assert sum(queue_stats(engine, "t2", "a", NOW, 3600).counts.values()) == 3
    assert queue_stats(engine, "t2", "a", NOW, 3600).runs == 1
