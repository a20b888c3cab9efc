"""kill -9 of the timer with jobs pending loses none of them."""

from __future__ import annotations

from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import Receiver

JOBS = 20


def test_timer_kill_9_loses_no_pending_job(stack: Stack, receiver: Receiver) -> None:
    # Given jobs pending for a few seconds
    with stack.client() as c:
        ids = []
        for i in range(JOBS):
            r = c.post("/api/jobs", json={"queue": "crash", "url": receiver.url(f"/crash/{i}"), "delay": 4})
            assert r.status_code == 201
            ids.append(r.json()["job_id"])
    # When the timer is killed with SIGKILL (the supervisor restarts it)
    old_pid = stack.supervisor.kill("timer")
    eventually(
        lambda: (p := stack.supervisor.children["timer"].process) is not None and p.pid != old_pid and p.poll() is None,
        what="timer restarted",
    )
    # Then every pending job is still delivered
    receiver.wait_for(lambda q: q.path.startswith("/crash/"), count=JOBS, timeout=60)
    delivered = {q.path for q in receiver.matching(lambda q: q.path.startswith("/crash/"))}
    assert delivered == {f"/crash/{i}" for i in range(JOBS)}
    # And each reads completed
    with stack.client() as c:
        for job_id in ids:
            url = f"/api/jobs/{job_id}"
            eventually(lambda u=url: c.get(u).json()["status"] == "completed", what=url)  # type: ignore[misc]
