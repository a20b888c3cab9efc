"""The Python client's ``queues.stats`` and ``jobs.list`` filters (clients/python): what is sent and what is read.
No network: an httpx MockTransport answers and records each request."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import httpx
from chronohook_client import AsyncClient, Client
from chronohook_client.models import QueueStats

STATS = {
    "name": "emails",
    "counts": {"pending": 2, "processing": 0, "completed": 5, "failed": 1, "total": 8},
    "window_s": 600,
    "runs": 6,
    "successes": 5,
    "failures": 1,
    "runs_per_minute": 0.6,
    "lateness": {"p50_ms": 1.25, "p95_ms": 30.0, "max_ms": 31.5},
}
EMPTY_PAGE = {
    "data": [],
    "links": {"first": None, "last": None, "prev": None, "next": None},
    "meta": {"path": "http://api.test/api/jobs", "per_page": 15, "next_cursor": None, "prev_cursor": None},
}


def _recorder(asked: list[httpx.Request]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(200, json=STATS if request.url.path.endswith("/stats") else EMPTY_PAGE)

    return httpx.MockTransport(answer)


def test_queue_stats_are_read_as_a_typed_model() -> None:
    # Given an API answering a queue's stats
    asked: list[httpx.Request] = []
    with Client("http://api.test", "t", transport=_recorder(asked)) as client:
        # When the client asks for a queue with a slash in its name over 10 minutes
        stats = client.queues.stats("mail/out", window_s=600)
    # Then it asked the stats path, the name encoded, with the window
    assert asked[0].url.raw_path == b"/api/queues/mail%2Fout/stats?window_s=600"
    # And the answer is typed
    assert isinstance(stats, QueueStats) and stats.counts.total == 8
    assert stats.lateness is not None and stats.lateness.p50_ms == 1.25


def test_the_list_sends_its_filters_with_every_page_and_times_as_rfc3339() -> None:
    # Given an async client and a creation window given in another zone
    asked: list[httpx.Request] = []
    since = datetime(2026, 4, 10, 16, 0, tzinfo=timezone(timedelta(hours=2)))

    async def walk() -> None:
        async with AsyncClient("http://api.test", "t", transport=_recorder(asked)) as client:
            jobs = client.jobs.list(url="orders", created_after=since, created_before="2026-04-10T15:00:00Z")
            assert [j async for j in jobs] == []

    # When the list is walked
    asyncio.run(walk())
    # Then the filters went as query parameters, the instant with its offset
    params = asked[0].url.params
    assert params["url"] == "orders" and params["created_before"] == "2026-04-10T15:00:00Z"
    assert datetime.fromisoformat(params["created_after"]) == since.astimezone(UTC)
