"""On the real broker: more jobs due at one instant than one timer step fires (decision 0028). The timer fires
them over several capped steps, without a restart; each arrives exactly once. A second tenant's jobs, due just
after the instant, are not fired after the whole burst: the steps share out round robin across tenants."""

from __future__ import annotations

import secrets
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
from confluent_kafka import Message

from bench.faults.once import event_type, read_topic
from schemas import decode_event
from schemas.events import JobDue
from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import Receiver

# Over the default cap of 1,000 entries a step (the session stack runs with the defaults): at least six steps.
JOBS = 6_000
BATCH = 1_000
# The neighbour's jobs: one every 50 ms from 50 ms after the instant (20/s), for half a second.
NEIGHBOURS = 10


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
    # And another tenant's jobs due every 50 ms just after T
    neighbours = [
        {
            "queue": f"neighbour-{tag}",
            "url": receiver.url(f"/neighbour/{tag}/{i}"),
            "method": "GET",
            "run_at": _rfc3339_ms(due + timedelta(milliseconds=50 * (i + 1))),
        }
        for i in range(NEIGHBOURS)
    ]
    with stack.client(stack.other_token) as c:
        answer = c.post("/api/jobs/batch", json={"jobs": neighbours})
        assert answer.status_code == 201, answer.text
    assert datetime.now(UTC) < due, "creating the jobs took past their instant: no verdict on the burst"

    # When T passes
    # Then every job arrives, exactly once, none before T; the neighbour's too
    prefix = f"/burst/{tag}/"
    arrived = receiver.wait_for(lambda q: q.path.startswith(prefix), count=JOBS, timeout=40)
    counts = Counter(q.path for q in arrived)
    assert len(counts) == JOBS and max(counts.values()) == 1
    assert min(q.at for q in arrived) >= due.timestamp()
    near = receiver.wait_for(lambda q: q.path.startswith(f"/neighbour/{tag}/"), count=NEIGHBOURS, timeout=20)
    assert len({q.path for q in near}) == NEIGHBOURS
    # And in the log, no step of the burst that began once a neighbour job was due passed it over: it went out in
    # the first step that had it due, however much of the burst was left (in due order it would have waited for all
    # 6,000). Each step's JobDue records carry the step's instant; a job's carries its own due time.
    steps: set[datetime] = set()
    neighbour: list[tuple[datetime, datetime]] = []  # (due, fired by the step of)

    def on_message(msg: Message) -> None:
        if event_type(msg) != "JobDue":
            return
        event = decode_event(msg.value() or b"")
        assert isinstance(event, JobDue)
        if f"/burst/{tag}/" in event.request.url:
            steps.add(event.occurred_at)
        elif f"/neighbour/{tag}/" in event.request.url:
            neighbour.append((event.due_at, event.occurred_at))

    assert read_topic(stack.settings, on_message, isolation="read_committed", timeout=30) == ""
    assert len(steps) >= JOBS // stack.settings.timer_fire_max_entries and len(neighbour) == NEIGHBOURS
    passed_over = {due: sorted(s for s in steps if due <= s < fired) for due, fired in neighbour}
    ordered = sorted(steps)
    when = sorted(ordered.index(f) + 1 if f in ordered else 0 for _, f in neighbour)
    print(f"burst: {len(steps)} steps; the neighbour's jobs went out in steps {when}")
    assert not any(passed_over.values()), passed_over
    # And the timer was never restarted (no crash loop)
    now = stack.supervisor.children["timer"].process
    assert now is not None and now.pid == pid and now.poll() is None
