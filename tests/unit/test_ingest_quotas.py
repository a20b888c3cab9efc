"""Per-tenant creation limits: a token-bucket rate (429 + Retry-After) and a pending-job cap, in each API's shape."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from chronohook.clock import FixedClock
from chronohook.kafka.log import InMemoryEventLog
from chronohook.readmodel.counts import pending_jobs
from chronohook.settings import Settings
from chronohook.store.tables import jobs
from chronohook.store.tokens import create_token
from services.ingest.app import build_context, create_app
from services.ingest.context import IngestContext
from services.ingest.quotas import PENDING_RETRY_AFTER, TenantQuotas, TokenBucket
from tests.unit.test_ingest_api import CREATE, NOW, PUSH

CRON = {"name": "nightly", "url": "https://example.com/n", "cron_expression": "0 3 * * *"}


class FakeTimer:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Create:
    """One creation endpoint: how to make a distinct valid request, how many jobs it makes, its error key."""

    path: str
    body: Callable[[int], dict[str, Any]]
    jobs: int
    key: str


CREATES = [
    Create("/jobs", lambda i: CREATE | {"name": f"job {i}"}, 1, "error"),
    Create("/api/jobs", lambda _: PUSH, 1, "message"),
    Create("/api/jobs/batch", lambda _: {"jobs": [PUSH, PUSH]}, 2, "message"),
    Create("/api/crons", lambda i: CRON | {"name": f"cron {i}"}, 1, "message"),
]
IDS = [c.path for c in CREATES]


@dataclass
class Limited:
    client: TestClient
    ctx: IngestContext
    log: InMemoryEventLog
    timer: FakeTimer
    t1: dict[str, str]
    t2: dict[str, str]

    def post(self, create: Create, i: int, headers: dict[str, str] | None = None) -> Any:
        return self.client.post(create.path, json=create.body(i), headers=headers or self.t1)


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Callable[..., Limited]]:
    """An ingest app with the given limits and a fake monotonic clock for them."""
    opened: list[tuple[TestClient, IngestContext]] = []

    def make(rate: float = 0.0, burst: int = 1, max_pending: int = 0) -> Limited:
        log = InMemoryEventLog()
        settings = Settings(
            data_dir=tmp_path, tenant_create_rate=rate, tenant_create_burst=burst, tenant_max_pending=max_pending
        )
        ctx = build_context(settings, FixedClock(NOW), log=log)
        timer = FakeTimer()
        ctx.quotas = TenantQuotas(rate, burst, max_pending, ctx.quotas._count_pending, timer=timer)
        t1 = {"Authorization": f"Bearer {create_token(ctx.engine, 't1')}"}
        t2 = {"Authorization": f"Bearer {create_token(ctx.engine, 't2')}"}
        client = TestClient(create_app(ctx)).__enter__()
        opened.append((client, ctx))
        return Limited(client, ctx, log, timer, t1, t2)

    yield make
    for client, _ in opened:
        client.__exit__(None, None, None)


# -- the bucket --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rate", "burst", "takes", "expected"),
    [
        # (at, n) -> 0.0 granted, else seconds to wait
        (10.0, 3, [(0.0, 1), (0.0, 1), (0.0, 1), (0.0, 1)], [0.0, 0.0, 0.0, 0.1]),
        (10.0, 3, [(0.0, 3), (0.1, 1), (0.15, 1)], [0.0, 0.0, 0.05]),
        (10.0, 3, [(0.0, 3), (100.0, 3), (100.0, 1)], [0.0, 0.0, 0.1]),  # refills up to the burst only
        (1.0, 2, [(0.0, 5), (0.0, 1), (4.0, 1)], [0.0, 4.0, 0.0]),  # larger than the burst: a debt paid back first
        (1.0, 2, [(0.0, 1), (0.0, 5)], [0.0, 1.0]),
    ],
)
def test_token_bucket(rate: float, burst: int, takes: list[tuple[float, int]], expected: list[float]) -> None:
    bucket = TokenBucket(rate, burst, float(burst), 0.0)
    assert [round(bucket.take(n, at), 6) for at, n in takes] == expected


# -- the rate limit, through the API -----------------------------------------------------------------------------
@pytest.mark.parametrize("create", CREATES, ids=IDS)
def test_creates_beyond_the_burst_are_429_with_retry_after_in_the_familys_shape(
    limited: Callable[..., Limited], create: Create
) -> None:
    # Given a tenant allowed 4 jobs at once, then 1 every 4 s
    api = limited(rate=0.25, burst=4)
    # When it creates until refused
    accepted = 0
    for i in range(4 // create.jobs):
        r = api.post(create, i)
        assert r.status_code in (200, 201), r.text
        accepted += create.jobs
    refused = api.post(create, 99)
    # Then the burst was accepted, and the next create is 429 with Retry-After in whole seconds, in the family's shape
    assert accepted == 4
    assert refused.status_code == 429, refused.text
    assert set(refused.json()) == {create.key}
    assert "create" in refused.json()[create.key]
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 4 * create.jobs
    assert len(api.log.records) == 4
    # And another tenant is not affected
    assert api.post(create, 100, api.t2).status_code in (200, 201)
    # And after Retry-After seconds the tenant may create again
    api.timer.now += retry_after
    assert api.post(create, 101).status_code in (200, 201)


def test_a_batch_counts_each_job(limited: Callable[..., Limited]) -> None:
    # Given a burst of 5
    api = limited(rate=1.0, burst=5)
    batch = CREATES[2]
    # When a batch of 2 and another of 2 are sent, then a third
    assert api.post(batch, 0).status_code == 201
    assert api.post(batch, 1).status_code == 201
    third = api.post(batch, 2)
    # Then the third is refused as a whole: one token is left, the batch needs two; none of its jobs was appended
    assert third.status_code == 429
    assert int(third.headers["Retry-After"]) == 1
    assert len(api.log.records) == 4


def test_reads_and_updates_are_not_limited(limited: Callable[..., Limited]) -> None:
    # Given a tenant that used up its burst
    api = limited(rate=0.001, burst=1)
    job = api.client.post("/jobs", json=CREATE, headers=api.t1).json()
    assert api.post(CREATES[0], 1).status_code == 429
    # When it reads, lists and updates
    # Then nothing of that is refused
    assert api.client.get("/jobs", headers=api.t1).status_code == 200
    assert api.client.get("/api/jobs/1", headers=api.t1).status_code == 404
    assert api.client.patch(f"/jobs/{job['id']}", json={"name": "renamed"}, headers=api.t1).status_code != 429


def test_a_refused_quedup_create_leaves_its_name_free(limited: Callable[..., Limited]) -> None:
    # Given a tenant that used up its burst
    api = limited(rate=1.0, burst=1)
    assert api.client.post("/jobs", json=CREATE | {"name": "first"}, headers=api.t1).status_code == 200
    # When a create is refused for the rate
    assert api.client.post("/jobs", json=CREATE | {"name": "second"}, headers=api.t1).status_code == 429
    # Then, later, the same name is free (not 409)
    api.timer.now += 1
    assert api.client.post("/jobs", json=CREATE | {"name": "second"}, headers=api.t1).status_code == 200


def test_a_rate_of_zero_turns_the_limit_off(limited: Callable[..., Limited]) -> None:
    api = limited(rate=0.0, burst=1)
    assert all(api.post(CREATES[1], i).status_code == 201 for i in range(20))


# -- the pending cap ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("create", CREATES, ids=IDS)
def test_creates_beyond_the_pending_cap_are_429_in_the_familys_shape(
    limited: Callable[..., Limited], create: Create
) -> None:
    # Given a tenant that may have 2 pending jobs, and has them
    api = limited(max_pending=2)
    api.client.post("/api/jobs/batch", json={"jobs": [PUSH, PUSH]}, headers=api.t1)
    # When it creates one more
    r = api.post(create, 0)
    # Then 429 in the family's shape, with Retry-After, and nothing appended
    assert r.status_code == 429, r.text
    assert set(r.json()) == {create.key}
    assert "pending" in r.json()[create.key]
    assert r.headers["Retry-After"] == str(PENDING_RETRY_AFTER)
    assert len(api.log.records) == 2
    # And another tenant is not affected
    assert api.post(create, 1, api.t2).status_code in (200, 201)


def test_the_pending_cap_counts_the_read_model_and_frees_as_jobs_finish(limited: Callable[..., Limited]) -> None:
    # Given a tenant at its cap of 2, whose jobs the projector has applied
    api = limited(max_pending=2)
    api.client.post("/api/jobs/batch", json={"jobs": [PUSH, PUSH]}, headers=api.t1)
    assert api.post(CREATES[1], 0).status_code == 429
    # When both jobs finish in the read model and the cached count expires
    _insert_jobs(api.ctx, "t1", ["completed", "failed"])
    api.timer.now += 1.01
    # Then the tenant may create again, up to the cap
    assert api.post(CREATES[1], 1).status_code == 201
    assert api.post(CREATES[1], 2).status_code == 201
    assert api.post(CREATES[1], 3).status_code == 429


def _insert_jobs(ctx: IngestContext, tenant: str, statuses: list[str]) -> None:
    with ctx.engine.begin() as conn:
        for i, status in enumerate(statuses):
            conn.execute(
                insert(jobs).values(
                    job_id=f"{tenant}-{status}-{i}-{len(statuses)}",
                    tenant=tenant,
                    api="recuro",
                    created_at=NOW + timedelta(seconds=i),
                    doc={"status": status},
                )
            )


@pytest.mark.parametrize(
    ("statuses", "exact_from", "expected"),
    [
        ([], 0, 0),
        (["pending", "processing", "active", "paused", "completed", "failed"], 0, 4),
        (["pending", "completed", "failed"], 10, 3),  # below exact_from: the cheap count, a bound above
        (["pending", "completed", "failed"], 3, 1),
    ],
)
def test_pending_jobs_counts_what_may_still_run(
    limited: Callable[..., Limited], statuses: list[str], exact_from: int, expected: int
) -> None:
    # Given a tenant's jobs in the read model, and another tenant's
    api = limited()
    _insert_jobs(api.ctx, "t1", statuses)
    _insert_jobs(api.ctx, "t2", ["pending"] * 5)
    # When its pending jobs are counted
    # Then only its own, and (from exact_from on) only those not finished
    assert pending_jobs(api.ctx.engine, "t1", exact_from) == expected


def test_a_slow_count_is_reused_for_longer() -> None:
    # Given a pending count that takes 3 s (on the quota's clock)
    timer = FakeTimer()
    calls: list[str] = []

    def slow_count(tenant: str, _exact_from: int) -> int:
        calls.append(tenant)
        timer.now += 3.0
        return 0

    quotas = TenantQuotas(rate=0.0, burst=1, max_pending=10, count_pending=slow_count, timer=timer)
    # When creates come 2 s, then 29 s, then 31 s after it
    asyncio.run(quotas.admit("t1", 1))
    for later in (2.0, 27.0):
        timer.now += later
        asyncio.run(quotas.admit("t1", 1))
    # Then it was counted once within 30 s (10 times what it took), again after
    assert len(calls) == 1
    timer.now += 2.0
    asyncio.run(quotas.admit("t1", 1))
    assert len(calls) == 2
