"""Schedules end to end on the session stack (real broker, loopback receiver): a seconds-field cron fires on its
seconds, and a schedule in a time zone answers its next run in that zone (decision 0025)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import Receiver

PROMISE = 0.020  # seconds: an occurrence reaches the receiver within this after its instant
NY = ZoneInfo("America/New_York")


def _intended(run_id: str) -> float:
    """The occurrence a run was for, from its run id (``<job>:<occurrence ms>:<attempt>``)."""
    return int(run_id.rsplit(":", 2)[1]) / 1000


def test_an_every_two_seconds_job_fires_on_even_seconds_within_20_ms(stack: Stack, receiver: Receiver) -> None:
    path = f"/every-2s-{uuid.uuid4().hex[:8]}"
    with stack.client() as c:
        # Given a QuedUp job on "*/2 * * * * *" (6 fields, seconds first)
        r = c.post(
            "/jobs",
            json={"method": "POST", "name": f"every-2s-{uuid.uuid4().hex[:8]}", "url": receiver.url(path),
                  "schedule": "*/2 * * * * *"},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        job = r.json()
        try:
            # Then its next run is an even second
            first = datetime.fromisoformat(job["next_run_at"].replace("Z", "+00:00"))
            assert first.second % 2 == 0 and first.microsecond == 0
            # When four occurrences have run
            got = receiver.wait_for(lambda q: q.path == path, count=4, timeout=15)[:4]
        finally:
            assert c.delete(f"/jobs/{job['id']}").status_code == 204
    # Then each was for an even second, two seconds after the one before (none skipped, none twice)
    intended = [_intended(g.headers["X-Chronohook-Run-Id"]) for g in got]
    assert all(t == int(t) and int(t) % 2 == 0 for t in intended), intended
    assert [b - a for a, b in pairwise(intended)] == [2.0, 2.0, 2.0]
    assert intended[0] == first.timestamp()
    # And each after the first (which may fall due milliseconds after the create is answered, before the timer has
    # read it) arrived at its even second, never before it and within 20 ms after it
    offsets_ms = [round((g.at - t) * 1000, 1) for g, t in zip(got, intended, strict=True)]
    print(f"\n*/2 s arrivals after their even second (ms): {offsets_ms}")
    assert all(0 <= (g.at - t) <= PROMISE for g, t in zip(got[1:], intended[1:], strict=True)), offsets_ms


def _next_nine_in_new_york(after: datetime) -> datetime:
    local = after.astimezone(NY)
    nine = datetime(local.year, local.month, local.day, 9, tzinfo=NY)
    if nine <= local:
        following = local.date() + timedelta(days=1)
        nine = datetime(following.year, following.month, following.day, 9, tzinfo=NY)
    return nine.astimezone(UTC)


def test_a_nine_oclock_new_york_job_reads_its_next_run_at_nine_new_york_time(stack: Stack) -> None:
    with stack.client() as c:
        # Given a QuedUp job and a Recuro cron on "0 9 * * *" in America/New_York
        before = datetime.now(UTC)
        r = c.post(
            "/jobs",
            json={"method": "GET", "name": f"ny-{uuid.uuid4().hex[:8]}", "url": "https://example.com/ny",
                  "schedule": "0 9 * * *", "timezone": "America/New_York"},
        )  # fmt: skip
        rc = c.post(
            "/api/crons",
            json={"name": f"ny-{uuid.uuid4().hex[:8]}", "url": "https://example.com/ny",
                  "cron_expression": "0 9 * * *", "timezone": "America/New_York", "catch_up": "skip"},
        )  # fmt: skip
        after = datetime.now(UTC)
        assert r.status_code == 200, r.text
        assert rc.status_code == 201, rc.text
        job, cron = r.json(), rc.json()
        try:
            # Then next_run_at is the next 09:00 New York time (EDT or EST, whichever is in force then)
            expected = {_next_nine_in_new_york(before), _next_nine_in_new_york(after)}
            next_run = datetime.fromisoformat(job["next_run_at"].replace("Z", "+00:00"))
            assert next_run in expected and next_run.astimezone(NY).hour == 9
            assert datetime.fromisoformat(cron["next_run_at"]) == next_run
            assert (job["timezone"], cron["timezone"], cron["catch_up"]) == ("America/New_York",) * 2 + ("skip",)
            # And GET reads the same, once the timer has said so (its JobScheduled, copied by the projector)
            read = eventually(lambda: (j := c.get(f"/jobs/{job['id']}").json())["next_run_at"] and j, what="job read")
            assert (read["next_run_at"], read["timezone"]) == (job["next_run_at"], "America/New_York")
            got = c.get(f"/api/crons/{cron['id']}").json()
            assert (got["next_run_at"], got["timezone"], got["catch_up"]) == (
                cron["next_run_at"], "America/New_York", "skip"
            )  # fmt: skip
            events = eventually(
                lambda: [e for e in c.get(f"/jobs/{job['id']}/events").json() if e["type"] == "JobScheduled"],
                what="the timer's JobScheduled",
            )
            assert events[0]["payload"]["next_run_at"].startswith(next_run.strftime("%Y-%m-%dT%H:%M:%S"))
        finally:
            assert c.delete(f"/jobs/{job['id']}").status_code == 204
            assert c.delete(f"/api/crons/{cron['id']}").status_code == 204
