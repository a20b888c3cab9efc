"""The Python client's transport (clients/python): retries on 429/503 honouring Retry-After (bounded), typed errors
with the API's body, the idempotency header, and paginators that follow every page of each shape. No network: an
httpx MockTransport answers, and the waits are recorded instead of slept."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from chronohook_client import (
    AsyncClient,
    Client,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    TransportError,
    ValidationError,
)
from chronohook_client.errors import parse_retry_after

QUEUE = {
    "id": 1,
    "name": "q",
    "is_active": True,
    "timeout_seconds": 30,
    "retries_enabled": True,
    "retry_delays": [1],
    "success_assertions": [],
    "alerts_enabled": False,
    "max_parallelism": None,
    "dlq_retention_days": 7,
    "created_at": "2026-04-10T14:05:00+00:00",
    "updated_at": "2026-04-10T14:05:00+00:00",
}
PUSHED = {"success": True, "queue_id": 1, "job_id": 7, "scheduled_at": "2026-04-10T14:05:00+00:00"}


def client(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> tuple[Client, list[float]]:
    waits: list[float] = []
    return Client("http://api.test", "tok", transport=httpx.MockTransport(handler), sleep=waits.append, **kwargs), waits


def answers(*responses: httpx.Response) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    return handler, seen


def test_a_429_is_retried_after_its_retry_after_and_the_token_and_key_are_sent() -> None:
    # Given an API that refuses twice (429 with Retry-After 2, then 503 without one) and then accepts
    handler, seen = answers(
        httpx.Response(429, json={"message": "slow down"}, headers={"Retry-After": "2"}),
        httpx.Response(503, json={"message": "log away"}),
        httpx.Response(201, json=PUSHED),
    )
    c, waits = client(handler)
    # When a job is pushed with an idempotency key
    pushed = c.jobs.create(queue="q", url="https://example.com/", payload={"a": 1}, idempotency_key="k-1")
    # Then it was sent three times, waiting 2 s (as told) then the backoff, and the answer is typed
    assert pushed.job_id == 7 and pushed.scheduled_at.year == 2026
    assert waits == [2.0, 1.0]
    assert [r.headers["Idempotency-Key"] for r in seen] == ["k-1"] * 3
    assert seen[0].headers["Authorization"] == "Bearer tok"
    assert json.loads(seen[0].content) == {"queue": "q", "url": "https://example.com/", "payload": {"a": 1}}


def test_retries_are_bounded_and_the_last_refusal_is_raised_with_its_body() -> None:
    # Given an API that always answers 429 asking for an hour
    handler, seen = answers(*[httpx.Response(429, json={"message": "cap"}, headers={"Retry-After": "3600"})] * 4)
    c, waits = client(handler, retry=RetryPolicy(max_retries=3, max_wait=5.0))
    # When a job is pushed
    with pytest.raises(RateLimitedError) as raised:
        c.jobs.create(queue="q", url="https://example.com/")
    # Then it tried 4 times, never waiting more than max_wait, and the error carries the API's answer
    assert len(seen) == 4 and waits == [5.0, 5.0, 5.0]
    assert raised.value.status_code == 429 and raised.value.body == {"message": "cap"}
    assert raised.value.retry_after == 3600.0


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (404, {"message": "Job not found."}, NotFoundError, "Job not found."),
        (404, {"error": "Job job_1 not found."}, NotFoundError, "Job job_1 not found."),
        (409, {"message": "Replayed already."}, ConflictError, "Replayed already."),
        (422, {"message": "The queue field is required.", "errors": {"queue": ["The queue field is required."]}},
         ValidationError, "The queue field is required."),
        (500, "oops", ServerError, "oops"),
    ],
)  # fmt: skip
def test_errors_are_typed_and_carry_the_api_body(status: int, body: Any, kind: type[Exception], message: str) -> None:
    # Given an API answering an error
    response = httpx.Response(status, json=body) if isinstance(body, dict) else httpx.Response(status, text=body)
    handler, _ = answers(response)
    c, _ = client(handler)
    # When a queue is read, Then the error is of the status's kind with the API's message and field errors
    with pytest.raises(kind) as raised:
        c.queues.get("q")
    assert raised.value.message == message  # type: ignore[attr-defined]
    if isinstance(body, dict) and "errors" in body:
        assert raised.value.errors == body["errors"]  # type: ignore[attr-defined]


def test_an_unreachable_api_is_a_transport_error() -> None:
    # Given a transport that cannot connect
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    c, _ = client(refuse)
    # Then a read raises TransportError
    with pytest.raises(TransportError):
        c.version()


def laravel(items: list[Any], page: int, last: int) -> dict[str, Any]:
    meta = {"current_page": page, "from": 1, "last_page": last, "path": "/p", "per_page": 2, "to": 2, "total": 5}
    return {"data": items, "links": {"first": "f", "last": "l", "prev": None, "next": None}, "meta": meta}


def test_a_laravel_list_follows_every_page() -> None:
    # Given three pages of queues
    pages = {1: laravel([QUEUE, QUEUE], 1, 3), 2: laravel([QUEUE, QUEUE], 2, 3), 3: laravel([QUEUE], 3, 3)}
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url.params))
        return httpx.Response(200, json=pages[int(request.url.params["page"])])

    c, _ = client(handler)
    # When listed, Then every item of every page comes back, one request per page
    assert len(c.queues.list(per_page=2).all()) == 5
    assert asked == ["page=1&per_page=2", "page=2&per_page=2", "page=3&per_page=2"]
    # And max_items stops early
    assert len(list(c.queues.list(per_page=2, max_items=3))) == 3


def test_a_cursor_list_follows_next_cursor_with_its_filters() -> None:
    # Given two keyset pages of Recuro jobs
    job: dict[str, Any] = {
        "id": 7, "queue_id": 1, "queue": "q", "url": "https://example.com/", "method": "POST", "headers": {},
        "payload": None, "callback_url": None, "status": "failed", "final_status": "dead_lettered",
        "attempt_number": 1, "is_retry": False, "retry_of": None, "has_pending_retry": False, "retry_job_id": None,
        "scheduled_at": None, "created_at": "2026-04-10T14:05:00+00:00", "dead_lettered_at": None,
    }  # fmt: skip
    links = {"first": None, "last": None, "prev": None, "next": None}
    first = {"data": [job], "links": links, "meta": {"path": "/api/jobs", "per_page": 1, "next_cursor": "abc"}}
    second = {"data": [job], "links": links, "meta": {"path": "/api/jobs", "per_page": 1, "next_cursor": None}}
    asked: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(dict(request.url.params))
        return httpx.Response(200, json=second if "cursor" in request.url.params else first)

    c, _ = client(handler)
    # When listed by queue and status
    jobs = c.jobs.list(queue="q", status="failed", per_page=1).all()
    # Then both pages were read, the second with the first's cursor, each with the filters
    assert [j.id for j in jobs] == [7, 7]
    assert asked == [
        {"per_page": "1", "queue": "q", "status": "failed"},
        {"cursor": "abc", "per_page": "1", "queue": "q", "status": "failed"},
    ]


def test_a_quedup_list_follows_offsets_until_a_short_page() -> None:
    # Given 5 QuedUp jobs, served 2 at a time by offset
    job: dict[str, Any] = {
        "id": "job_1", "name": "n", "method": "GET", "url": "https://example.com/", "body": "", "headers": {},
        "schedule": None, "timezone": "UTC", "catch_up": "latest", "next_run_at": None, "status": "active",
    }  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
        return httpx.Response(200, json=[job] * max(0, min(limit, 5 - offset)))

    c, _ = client(handler)
    # Then the async and the sync client both read all 5
    assert len(c.quedup.list(limit=2).all()) == 5

    async def read_async() -> int:
        async with AsyncClient("http://api.test", "t", transport=httpx.MockTransport(handler)) as aio:
            return len([j async for j in aio.quedup.list(limit=2)])

    assert asyncio.run(read_async()) == 5


def test_the_async_client_retries_too() -> None:
    # Given an API that answers 503 once
    handler, seen = answers(httpx.Response(503, json={"message": "away"}), httpx.Response(200, json=QUEUE))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def read() -> str:
        async with AsyncClient("http://api.test", "t", transport=httpx.MockTransport(handler), sleep=sleep) as c:
            return (await c.queues.pause("q")).name

    # When a queue is paused through the async client, Then it was retried once after the backoff
    assert asyncio.run(read()) == "q"
    assert waits == [0.5] and json.loads(seen[1].content) == {"is_active": False}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2", 2.0), (" 0 ", 0.0), ("1.5", 1.5), ("-3", 0.0), ("", None), (None, None), ("soon", None),
     ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)  # fmt: skip
def test_retry_after_is_read_as_seconds_or_an_http_date(value: str | None, expected: float | None) -> None:
    # A date in the past waits nothing; something unreadable is as if absent (the backoff applies)
    assert parse_retry_after(value) == expected
    assert RetryPolicy(backoff=0.5).wait(2, value) == (expected if expected is not None else 2.0)


def test_an_http_date_ahead_waits_until_then() -> None:
    ahead = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    seconds = parse_retry_after(ahead)
    assert seconds is not None and 15 < seconds <= 20
