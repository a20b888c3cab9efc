"""Read-your-writes (decision 0035): the position header's text, the tenant watermark's group commit and SQL, the
shared wait for the projector, and the headers through the app on an in-memory log."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chronohook.clock import FixedClock
from chronohook.kafka.log import InMemoryEventLog
from chronohook.readmodel.store import PROJECTOR_CONSUMER, Consumed
from chronohook.settings import Settings
from chronohook.store.tokens import create_token
from chronohook.store.write_positions import WriteKey
from schemas.codec import decode_event
from services.ingest.app import build_context, create_app
from services.ingest.consistency import (
    MAX_POSITIONS,
    POSITION_HEADER,
    STALE_HEADER,
    AppliedOffsets,
    Watermarks,
    format_positions,
    parse_positions,
)
from services.ingest.context import IngestContext

NOW = datetime(2026, 4, 10, 14, 5, 0, tzinfo=UTC)
TOPICS = {"jobs": "p.events", "queues": "p.queue-settings"}
NAMES = {topic: name for name, topic in TOPICS.items()}


# -- the header's text ----------------------------------------------------------------------------------------------
def test_positions_are_written_per_log_and_partition_and_read_back() -> None:
    # Given what a write landed at in two logs
    wrote = {("p.events", 2): 1043, ("p.queue-settings", 0): 7, ("p.events", 0): 5}
    # When written as the header's text
    text = format_positions(wrote, NAMES)
    # Then each is <log>.<partition>:<offset>, and parsing gives the positions back
    assert text == "jobs.0:5,jobs.2:1043,queues.0:7"
    assert sorted(parse_positions([text], TOPICS) or []) == sorted((t, p, o) for (t, p), o in wrote.items())


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["jobs.1:10", "jobs.1:12, jobs.2:3"], [("p.events", 1, 12), ("p.events", 2, 3)]),  # several: the highest
        (["jobs.1:10,"], [("p.events", 1, 10)]),  # an empty entry is nothing
        ([""], None),  # nothing at all: the tenant's watermark instead
        (["events.1:10"], None),  # an unknown log
        (["jobs.1"], None),
        (["jobs.x:1"], None),
        (["jobs.1:-1"], None),
        (["jobs.1:99999999999999999999"], None),  # beyond a 64-bit offset
        ([",".join(f"jobs.{p}:1" for p in range(MAX_POSITIONS + 1))], None),  # too many
    ],
)
def test_a_malformed_position_header_counts_as_none(values: list[str], expected: list[tuple[str, int, int]]) -> None:
    # When the header's values are parsed, Then well-formed ones give the highest offset per partition, and anything
    # malformed gives None (the read then waits for its tenant's watermark, which covers every write)
    assert parse_positions(values, TOPICS) == expected


# -- the tenant watermark, written with group commit (its SQL: tests/contracts/test_write_positions.py) ------------
def test_concurrent_advances_share_one_database_write_and_each_returns_after_it() -> None:
    # Given a watermark writer whose first write is slow (a database busy with the projector)
    writes: list[dict[WriteKey, int]] = []
    first_started = asyncio.Event

    async def scenario() -> list[dict[WriteKey, int]]:
        release = asyncio.Event()
        started = first_started()
        loop = asyncio.get_running_loop()

        def write(batch: dict[WriteKey, int]) -> None:
            writes.append(dict(batch))
            if len(writes) == 1:
                loop.call_soon_threadsafe(started.set)
                asyncio.run_coroutine_threadsafe(release.wait(), loop).result(5)

        marks = Watermarks(write)
        # When one write is in flight and three more arrive meanwhile
        first = asyncio.ensure_future(marks.advance("t", [("e", 0, 1)]))
        await started.wait()
        rest = [asyncio.ensure_future(marks.advance("t", [("e", 0, o)])) for o in (5, 3)]
        rest.append(asyncio.ensure_future(marks.advance("u", [("e", 1, 9)])))
        await asyncio.sleep(0)
        assert not any(f.done() for f in [first, *rest])  # nobody answered before its write committed
        release.set()
        await asyncio.wait_for(asyncio.gather(first, *rest), 5)
        return writes

    # Then the three went in one second write, the highest offset per partition
    assert asyncio.run(scenario()) == [{("t", "e", 0): 1}, {("t", "e", 0): 5, ("u", "e", 1): 9}]


def test_a_failed_watermark_write_reaches_each_of_its_callers() -> None:
    # Given a database that refuses the write
    def write(_: dict[WriteKey, int]) -> None:
        raise OSError("database is locked")

    # When a write's watermark is raised, Then the caller hears of it (and decides: ingest logs it, answers anyway)
    with pytest.raises(OSError, match="locked"):
        asyncio.run(Watermarks(write).advance("t", [("e", 0, 1)]))


# -- waiting for the projector --------------------------------------------------------------------------------------
def test_waiting_reads_share_one_poll_and_the_snapshot_answers_at_once() -> None:
    # Given a projector at events/0 next 5, which moves to 8 on the third poll
    polls: list[int] = []

    def read() -> dict[tuple[str, int], int]:
        polls.append(1)
        return {("e", 0): 8 if len(polls) >= 3 else 5}

    async def scenario() -> tuple[list[bool], int, bool, int]:
        applied = AppliedOffsets(read, interval=0.001)
        # When three reads wait at once for offsets 4, 7 and 6
        waits = [applied.reached([("e", 0, o)], 5) for o in (4, 7, 6)]
        answers = list(await asyncio.gather(*waits))
        seen = len(polls)
        # And a later read wants offset 7, which the last snapshot covers
        again = await applied.reached([("e", 0, 7)], 5)
        return answers, seen, again, len(polls)

    answers, seen, again, total = asyncio.run(scenario())
    # Then all three are answered by three polls in all (not one poll loop each), and the later read by none
    assert answers == [True, True, True]
    assert seen == 3
    assert again is True and total == 3


def test_a_read_the_projector_does_not_reach_in_time_is_stale() -> None:
    # Given a projector stuck at next offset 5
    async def scenario() -> bool:
        return await AppliedOffsets(lambda: {("e", 0): 5}, interval=0.001).reached([("e", 0, 5)], 0.05)

    # When a read waits for offset 5 for 50 ms, Then it gives up: False
    assert asyncio.run(scenario()) is False


# -- through the app ------------------------------------------------------------------------------------------------
@dataclass
class Api:
    client: TestClient
    ctx: IngestContext
    log: InMemoryEventLog
    auth: dict[str, str]

    def project(self) -> None:
        batch = [Consumed(self.ctx.topic, 0, i, decode_event(v)) for i, (_, v, _) in enumerate(self.log.records)]
        self.ctx.store.apply(PROJECTOR_CONSUMER, batch, NOW)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    # Given an ingest app whose reads wait at most 50 ms, on an in-memory log nothing projects until asked
    log = InMemoryEventLog()
    ctx = build_context(Settings(data_dir=tmp_path, read_your_writes_wait_s=0.05), FixedClock(NOW), log=log)
    token = create_token(ctx.engine, "t1")
    with TestClient(create_app(ctx)) as client:
        yield Api(client, ctx, log, {"Authorization": f"Bearer {token}"})


CRON = {"name": "c", "url": "https://example.com/c", "cron_expression": "0 * * * *"}


def test_a_write_answers_its_position_and_a_read_before_the_projector_says_it_is_stale(api: Api) -> None:
    # Given a cron created (not yet projected)
    created = api.client.post("/api/crons", json=CRON, headers=api.auth)
    assert created.status_code == 201, created.text
    # Then the write answers where it landed
    assert created.headers[POSITION_HEADER] == "jobs.0:0"

    # When the list is read, with the position and without it (the tenant's watermark)
    with_header = api.client.get("/api/crons", headers=api.auth | {POSITION_HEADER: created.headers[POSITION_HEADER]})
    without = api.client.get("/api/crons", headers=api.auth)
    # Then both waited, and answered what is there, saying it is behind
    for r in (with_header, without):
        assert r.status_code == 200 and r.headers[STALE_HEADER] == "true" and r.json()["data"] == []

    # And once the projector applied the write, both read it, fresh
    api.project()
    for headers in (api.auth | {POSITION_HEADER: created.headers[POSITION_HEADER]}, api.auth):
        r = api.client.get("/api/crons", headers=headers)
        assert STALE_HEADER not in r.headers
        assert [c["name"] for c in r.json()["data"]] == ["c"]


def test_a_read_carrying_an_applied_position_does_not_wait_for_the_tenants_later_writes(api: Api) -> None:
    # Given a cron created and projected, then a second write of the tenant not projected
    first = api.client.post("/api/crons", json=CRON, headers=api.auth)
    api.project()
    assert api.client.post("/api/crons", json=CRON | {"name": "d"}, headers=api.auth).status_code == 201
    # When a read carries the first write's position, Then it is fresh for what it asked (no stale header)
    r = api.client.get("/api/crons", headers=api.auth | {POSITION_HEADER: first.headers[POSITION_HEADER]})
    assert STALE_HEADER not in r.headers and [c["name"] for c in r.json()["data"]] == ["c"]
    # And without the header it waits for the tenant's last write, and says it is behind
    assert api.client.get("/api/crons", headers=api.auth).headers[STALE_HEADER] == "true"


def test_a_queue_settings_write_answers_its_log_and_a_refused_write_none(api: Api) -> None:
    # When a queue's settings are set, Then the answer names the queue settings log (one log here: "jobs")
    r = api.client.patch("/api/queues/q", json={"is_active": False}, headers=api.auth)
    assert r.status_code == 200 and r.headers[POSITION_HEADER].startswith("jobs.0:")
    # And a write refused before it was appended answers no position
    bad = api.client.post("/api/crons", json=CRON | {"cron_expression": "nope"}, headers=api.auth)
    assert bad.status_code == 422 and POSITION_HEADER not in bad.headers
