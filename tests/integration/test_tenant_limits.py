"""Queue deletion and tenant suspension end to end, on the session stack (decision 0030): a deleted queue's
tombstone is honoured by the projector (gone from reads) and by every timer (its settings forgotten, also when read
at a restart's catch-up); an operator's suspend stops a tenant's every-second cron, resume restarts it."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import pytest
from typer.testing import CliRunner

from chronohook.cli import app
from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import Receiver


def _patched(stack: Stack, queue: str, body: dict[str, Any]) -> None:
    with stack.client() as c:
        r = c.patch(f"/api/queues/{queue}", json=body)
        assert r.status_code == 200, r.text
        eventually(lambda: c.get(f"/api/queues/{queue}").status_code == 200, what=f"queue {queue} projected")


def _deleted(stack: Stack, queue: str) -> None:
    """DELETE the queue, then wait until the projector has removed it."""
    with stack.client() as c:
        r = c.delete(f"/api/queues/{queue}")
        assert r.status_code == 204, r.text
        eventually(lambda: c.get(f"/api/queues/{queue}").status_code == 404, what=f"queue {queue} gone")
        assert queue not in [q["name"] for q in c.get("/api/queues", params={"per_page": 100}).json()["data"]]


def _push(stack: Stack, queue: str, url: str) -> None:
    with stack.client() as c:
        r = c.post("/api/jobs", json={"queue": queue, "url": url, "delay": 1})
        assert r.status_code == 201, r.text


def test_a_deleted_paused_queue_is_forgotten_by_the_projector_and_the_timers(stack: Stack, receiver: Receiver) -> None:
    # Given a paused queue (its settings on the queue-settings topic, read by every timer), then deleted
    queue = f"gone-{secrets.token_hex(4)}"
    _patched(stack, queue, {"is_active": False, "timeout_seconds": 7})
    _deleted(stack, queue)

    # When a job is pushed to a queue of the same name
    path = f"/gone/{queue}"
    _push(stack, queue, receiver.url(path))

    # Then it runs: the timers forgot the pause; and the queue reads fresh, with Recuro's defaults
    receiver.wait_for(lambda q: q.path == path, timeout=20)
    with stack.client() as c:
        fresh = eventually(lambda: (r := c.get(f"/api/queues/{queue}")).status_code == 200 and r.json(), what="fresh")
    assert fresh["is_active"] is True and fresh["timeout_seconds"] == 30


def test_a_queue_holding_jobs_is_409_until_they_ran(stack: Stack, receiver: Receiver) -> None:
    # Given a paused queue holding a pushed job
    queue = f"holding-{secrets.token_hex(4)}"
    path = f"/holding/{queue}"
    _patched(stack, queue, {"is_active": False})
    _push(stack, queue, receiver.url(path))
    with stack.client() as c:
        # When it is deleted: 409, it holds a job
        def holding() -> Any:
            r = c.delete(f"/api/queues/{queue}")
            return r.status_code == 409 and r.json()

        body = eventually(holding, what="409 once the push is projected")
        assert "1 job waiting" in body["message"]
        # And when the queue resumes, its job runs, and then the delete goes through
        assert c.patch(f"/api/queues/{queue}", json={"is_active": True}).status_code == 200
        receiver.wait_for(lambda q: q.path == path, timeout=20)
        eventually(lambda: c.delete(f"/api/queues/{queue}").status_code == 204, timeout=20, what="204 once it ran")


def test_a_tombstone_read_at_a_timer_restart_is_honoured(stack: Stack, receiver: Receiver) -> None:
    # Given a paused queue deleted, and then the timer killed and restarted: it reads the queue-settings topic from
    # its start, the settings and then the tombstone
    queue = f"restart-{secrets.token_hex(4)}"
    _patched(stack, queue, {"is_active": False})
    _deleted(stack, queue)
    old_pid = stack.supervisor.kill("timer")
    eventually(
        lambda: (p := stack.supervisor.children["timer"].process) is not None and p.pid != old_pid and p.poll() is None,
        timeout=30,
        what="timer restarted",
    )
    # When a job is pushed to a queue of that name
    path = f"/restart/{queue}"
    _push(stack, queue, receiver.url(path))
    # Then it runs: the restarted timer applied the tombstone after the pause
    receiver.wait_for(lambda q: q.path == path, timeout=60)


def _cli(stack: Stack, *args: str) -> int:
    """Run ``chronohook tenants ...`` against the stack (its database and broker); the number of schedules changed."""
    env = {
        "CHRONOHOOK_DATA_DIR": str(stack.settings.data_dir),
        "CHRONOHOOK_KAFKA_BOOTSTRAP": stack.settings.kafka_bootstrap,
        "CHRONOHOOK_TOPIC_PREFIX": stack.settings.topic_prefix,
    }
    result = CliRunner().invoke(app, ["tenants", *args], env=env)
    assert result.exit_code == 0, result.output
    found = re.search(r": (\d+) schedules (paused|resumed)", result.output)
    assert found is not None, result.output
    return int(found.group(1))


def test_an_operators_suspend_stops_a_tenants_cron_and_resume_restarts_it(stack: Stack, receiver: Receiver) -> None:
    # Given tenant-b's cron every second, arriving
    path = f"/suspended/{secrets.token_hex(4)}"
    with stack.client(stack.other_token) as c:
        r = c.post(
            "/api/crons", json={"name": f"tick {path}", "url": receiver.url(path), "cron_expression": "* * * * * *"}
        )
        assert r.status_code == 201, r.text
        cron = r.json()["id"]
        receiver.wait_for(lambda q: q.path == path, count=2, timeout=30)
        try:
            # When an operator suspends tenant-b (`chronohook tenants suspend tenant-b`)
            assert _cli(stack, "suspend", "tenant-b") >= 1
            eventually(lambda: c.get(f"/api/crons/{cron}").json()["is_active"] is False, what="cron shows paused")
            paused_at = time.time()

            # Then nothing arrives after what was already due (allowing 2 s for that), for 4 s
            with pytest.raises(AssertionError):
                receiver.wait_for(lambda q: q.path == path and q.at > paused_at + 2.0, timeout=6.0)
            # And suspending again changes nothing
            assert _cli(stack, "suspend", "tenant-b") == 0

            # When the operator resumes tenant-b
            resumed_at = time.time()
            assert _cli(stack, "resume", "tenant-b") >= 1
            # Then the cron fires again, and reads active
            receiver.wait_for(lambda q: q.path == path and q.at > resumed_at, count=2, timeout=30)
            assert c.get(f"/api/crons/{cron}").json()["is_active"] is True
            assert _cli(stack, "resume", "tenant-b") == 0
        finally:
            c.delete(f"/api/crons/{cron}")
