"""The keyset list of Recuro jobs (``chronohook.readmodel.job_list``), one contract on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from chronohook.readmodel.job_list import JobFilter, Position, position, recuro_jobs_page, runs_of
from chronohook.readmodel.store import Consumed, ReadModelStore
from schemas.events import HttpRequestSpec, JobPushed

T0 = datetime(2026, 1, 1, tzinfo=UTC)
REQUEST = HttpRequestSpec(method="POST", url="http://127.0.0.1:9/x", body="{}")


def _pushed(job: int, tenant: str, queue: str, at: datetime) -> JobPushed:
    return JobPushed(
        event_id=f"e{tenant}{job}", job_id=f"rj_{job:04d}", tenant=tenant, occurred_at=at, integer_id=job,
        queue=queue, queue_id=1 if queue == "a" else 2, request=REQUEST, scheduled_at=at,
    )  # fmt: skip


def _store(engine: Engine, events: list[JobPushed]) -> None:
    ReadModelStore(engine).apply("projector", [Consumed("t", 0, i, e) for i, e in enumerate(events)], T0)


def _walk(engine: Engine, tenant: str, where: JobFilter, limit: int) -> list[str]:
    seen: list[str] = []
    after: Position | None = None
    for _ in range(50):
        page = recuro_jobs_page(engine, tenant, where, limit, after)
        seen += [j.job_id for j in page.jobs]
        if not page.more:
            return seen
        after = position(page.jobs[-1])
    raise AssertionError("did not end")


def test_pages_walk_every_job_once_newest_first_with_ties_broken_by_id(engine: Engine) -> None:
    # Given 9 jobs of t1 over 5 instants (pairs share an instant), in two queues, and 3 jobs of t2
    events = [_pushed(i, "t1", "a" if i % 2 else "b", T0 + timedelta(seconds=i // 2)) for i in range(1, 10)]
    events += [_pushed(100 + i, "t2", "a", T0 + timedelta(seconds=i)) for i in range(3)]
    _store(engine, events)
    # When t1's jobs are walked 2 at a time
    seen = _walk(engine, "t1", JobFilter(), 2)
    # Then each of t1's is seen once, newest first (the later id first within an instant), none of t2's
    assert seen == [f"rj_{i:04d}" for i in range(9, 0, -1)]
    # And the queue filter keeps to its queue, the status filter to its status
    assert _walk(engine, "t1", JobFilter(queue="a"), 2) == [f"rj_{i:04d}" for i in (9, 7, 5, 3, 1)]
    assert _walk(engine, "t1", JobFilter(status="completed"), 2) == []
    assert len(_walk(engine, "t1", JobFilter(queue="b", status="pending"), 3)) == 4
    assert _walk(engine, "t2", JobFilter(), 10) == ["rj_0102", "rj_0101", "rj_0100"]


def test_reading_backwards_gives_the_newer_page_newest_first(engine: Engine) -> None:
    # Given 6 jobs a second apart
    _store(engine, [_pushed(i, "t1", "a", T0 + timedelta(seconds=i)) for i in range(1, 7)])
    # When the page before the 4th-newest job (rj_0003) is read backwards, 2 at a time
    third = recuro_jobs_page(engine, "t1", JobFilter(), 4).jobs[3]
    back = recuro_jobs_page(engine, "t1", JobFilter(), 2, position(third), "prev")
    # Then it holds the two jobs just newer than it, newest first, and says more lie beyond
    assert [j.job_id for j in back.jobs] == ["rj_0005", "rj_0004"] and back.more
    assert runs_of(engine, ["rj_0004"]) == {"rj_0004": []}


def test_url_and_creation_time_filters(engine: Engine) -> None:
    # Given 6 jobs a second apart, the even ones to /Orders_% (an underscore and a percent sign, which LIKE would read)
    events = [_pushed(i, "t1", "a", T0 + timedelta(seconds=i)) for i in range(1, 7)]
    for i, e in enumerate(events):
        url = f"http://127.0.0.1:9/Orders_%/{i}" if (i + 1) % 2 == 0 else f"http://127.0.0.1:9/ordersX/{i}"
        events[i] = e.model_copy(update={"request": HttpRequestSpec(method="POST", url=url, body="{}")})
    _store(engine, events)
    # When filtered by a substring of the URL, in another case: Then only those jobs, the wildcards taken literally
    assert _walk(engine, "t1", JobFilter(url="orders_%"), 2) == ["rj_0006", "rj_0004", "rj_0002"]
    assert len(_walk(engine, "t1", JobFilter(url="ORDERS"), 2)) == 6
    # And a creation window keeps its start and leaves out its end, walked a page at a time
    window = JobFilter(created_after=T0 + timedelta(seconds=2), created_before=T0 + timedelta(seconds=5))
    assert _walk(engine, "t1", window, 2) == ["rj_0004", "rj_0003", "rj_0002"]
    # And the filters combine
    both = JobFilter(url="orders_%", created_after=T0 + timedelta(seconds=3), created_before=T0 + timedelta(hours=1))
    assert _walk(engine, "t1", both, 1) == ["rj_0006", "rj_0004"]
