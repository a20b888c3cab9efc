"""On the real broker: more jobs due at one instant than one timer step fires (decision 0028). The timer fires
them over several capped steps, in due order, without a restart; each arrives exactly once."""

from __future__ import annotations

import secrets
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx

from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import Receiver

# Over the default cap of 5,000 entries a step (the session stack runs with the defaults): at least two steps.
JOBS = 6_000
BATCH = 1_000


def _rfc3339_ms(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def test_more_jobs_due_at_one_instant_than_a_step_fires_all_arrive_once_without_a_restart(
    stack: Stack, receiver: Receiver
) -> None:
    assert stack.settings.timer_fire_max_entries < JOBS
    timer = stack.supervisor.children["timer"].process
    assert timer is not None
    pid = timer.pid
    tag = secrets.token_hex(4)
    # Given 6,000 Recuro jobs, all due at the same instant T, 12 s ahead (creations are rate limited per tenant:
    # a batch refused with 429 is sent again once the bucket refills, within a bounded number of tries)
    due = (datetime.now(UTC) + timedelta(seconds=12)).replace(microsecond=0)
    run_at = _rfc3339_ms(due)
    with stack.client() as c:
        for start in range(0, JOBS, BATCH):
            jobs = [
                {"queue": f"burst-{tag}", "url": receiver.url(f"/burst/{tag}/{i}"), "method": "GET", "run_at": run_at}
                for i in range(start, start + BATCH)
            ]

            def accepted(j: list[dict[str, str]] = jobs) -> httpx.Response | None:
                r = c.post("/api/jobs/batch", json={"jobs": j})
                return None if r.status_code == 429 else r

            answer = eventually(accepted, timeout=20, interval=0.25, what="a batch accepted")
            assert answer.status_code == 201, answer.text
    assert datetime.now(UTC) < due, "creating the jobs took past their instant: no verdict on the burst"

    # When T passes
    # Then every job arrives, exactly once, none before T
    prefix = f"/burst/{tag}/"
    arrived = receiver.wait_for(lambda q: q.path.startswith(prefix), count=JOBS, timeout=40)
    counts = Counter(q.path for q in arrived)
    assert len(counts) == JOBS and max(counts.values()) == 1
    assert min(q.at for q in arrived) >= due.timestamp()
    # And the timer was never restarted (no crash loop)
    now = stack.supervisor.children["timer"].process
    assert now is not None and now.pid == pid and now.poll() is None
