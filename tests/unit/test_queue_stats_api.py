"""``GET /api/queues/{name}/stats`` through FastAPI's TestClient: an in-memory event log and a SQLite read model in
tmp_path (the query runs on PostgreSQL too: tests/contracts/test_queue_stats.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from chronohook.ids import recuro_job_key
from chronohook.readmodel.store import PROJECTOR_CONSUMER, Consumed
from schemas.events import JobSucceeded, RunOutcome
from tests.support.recuro_app import NOW, RecuroApi, recuro_app


class Api(RecuroApi):
    def succeeded(self, job: int, tenant: str, minutes_ago: int, late_ms: float) -> None:
        started = NOW - timedelta(minutes=minutes_ago)
        outcome = RunOutcome(
            run_id=f"r{job}", attempt=1, due_at=started - timedelta(milliseconds=late_ms), started_at=started,
            finished_at=started, duration_ms=1.0, request_headers={}, request_body=None, response_status=200,
        )  # fmt: skip
        event = JobSucceeded(
            event_id=f"s{job}", job_id=recuro_job_key(job), tenant=tenant, occurred_at=started, outcome=outcome
        )
        self.ctx.store.apply(PROJECTOR_CONSUMER, [Consumed("runs", 0, job, event)], NOW)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    # Given an ingest app on a fixed clock, an in-memory log and tokens for tenants t1 and t2
    with recuro_app(tmp_path, Api) as app:
        yield app


def test_stats_count_exactly_and_measure_the_windows_runs(api: Api) -> None:
    # Given 120 jobs in t1's queue "emails" (more than a page of the list), 2 of them run in the last hour,
    # 1.5 ms and 30 ms late, and one two hours ago
    ids = api.push("emails", api.t1, 120)
    api.project()
    api.succeeded(ids[0], "t1", 10, 1.5)
    api.succeeded(ids[1], "t1", 20, 30)
    api.succeeded(ids[2], "t1", 120, 5000)
    # When t1 reads the queue's stats
    r = api.client.get("/api/queues/emails/stats", headers=api.t1)
    # Then the counts are exact, and the hour's two runs are measured in milliseconds
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "emails" and body["window_s"] == 3600
    assert body["counts"] == {"pending": 117, "processing": 0, "completed": 3, "failed": 0, "total": 120}
    assert (body["runs"], body["successes"], body["failures"]) == (2, 2, 0)
    assert body["runs_per_minute"] == pytest.approx(2 / 60, abs=0.001)
    assert body["lateness"] == {"p50_ms": 1.5, "p95_ms": 30.0, "max_ms": 30.0}
    # And a window of a day takes in the older run
    assert api.client.get("/api/queues/emails/stats?window_s=86400", headers=api.t1).json()["runs"] == 3


def test_another_tenants_queue_is_not_found_and_bad_windows_are_422(api: Api) -> None:
    # Given t1's queue "emails"
    api.push("emails", api.t1, 1)
    api.project()
    # When t2 asks for its stats: Then a 404 in Recuro's shape
    r = api.client.get("/api/queues/emails/stats", headers=api.t2)
    assert r.status_code == 404 and r.json() == {"message": "Queue not found."}, r.text
    # And a window out of 1..86400 is a 422 naming window_s
    for bad in ("0", "86401", "an-hour"):
        r = api.client.get(f"/api/queues/emails/stats?window_s={bad}", headers=api.t1)
        assert r.status_code == 422 and "window_s" in r.json()["errors"], r.text
    # And a queue without runs in the window has null lateness
    body = api.client.get("/api/queues/emails/stats?window_s=60", headers=api.t1).json()
    assert body["runs"] == 0 and body["lateness"] is None and body["counts"]["total"] == 1
