"""End to end on the real broker: both APIs, the timer's precision, callbacks, failures and tenants."""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime, timedelta

import httpx

from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import Receiver

PRECISION = 0.100  # seconds: a due job reaches the receiver within this of its due time
PROMISE = 0.020  # seconds: a job reaches the receiver within this after the instant its answer promised


def test_recuro_delayed_job_arrives_two_seconds_later(stack: Stack, receiver: Receiver) -> None:
    # Given a Recuro push with a two-second delay, custom headers and a JSON payload
    body = {
        "queue": "emails",
        "url": receiver.url("/send-delayed"),
        "method": "PUT",
        "headers": {"X-Custom-Header": "value"},
        "payload": {"subject": "Welcome!"},
        "delay": 2,
    }
    # And a push at a run_at with milliseconds, 1.4-2.4 s ahead
    at = datetime.fromtimestamp(int(time.time()) + 2.437, UTC)
    run_at = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    timed = {"queue": "emails", "url": receiver.url("/send-at-ms"), "run_at": run_at}
    with stack.client() as c:
        sent = time.time()
        r = c.post("/api/jobs", json=body)
        answered = time.time()
        r_at = c.post("/api/jobs", json=timed)
    # Then the run_at push is echoed to the millisecond
    assert r_at.status_code == 201, r_at.text
    assert r_at.json()["scheduled_at"] == at.isoformat(timespec="milliseconds")
    # Then it is accepted with Recuro's 201 body
    assert r.status_code == 201, r.text
    answer = r.json()
    assert set(answer) == {"success", "queue_id", "job_id", "scheduled_at", "message"}
    assert answer["success"] is True and answer["message"] == "Scheduled successfully"
    # And scheduled_at is the next whole second at or after now + 2 s: Recuro's format, and the instant promised
    promised = datetime.fromisoformat(answer["scheduled_at"]).timestamp()
    assert promised == int(promised) and sent + 2 <= promised < answered + 3
    # When the delay passes
    [got] = receiver.wait_for(lambda q: q.path == "/send-delayed", timeout=10)
    # Then the request arrives at that promised instant, never before it and within 20 ms after it
    lateness = got.at - promised
    assert 0 <= lateness <= PROMISE, f"arrived {lateness * 1000:.1f} ms after scheduled_at"
    # And so does the run_at push, at its millisecond
    [got_at] = receiver.wait_for(lambda q: q.path == "/send-at-ms", timeout=10)
    assert 0 <= got_at.at - at.timestamp() <= PROMISE, f"arrived {(got_at.at - at.timestamp()) * 1000:.1f} ms late"
    with stack.client() as c:
        read = c.get(f"/api/jobs/{r_at.json()['job_id']}").json()
    assert read["scheduled_at"] == at.isoformat(timespec="milliseconds")
    assert got.method == "PUT"
    assert got.headers["X-Custom-Header"] == "value"
    assert got.headers["Content-Type"] == "application/json"
    assert json.loads(got.body) == {"subject": "Welcome!"}
    # And the job reads completed, with its run
    with stack.client() as c:
        job = eventually(
            lambda: (j := c.get(f"/api/jobs/{answer['job_id']}").json()).get("status") == "completed" and j,
            what="completed recuro job",
        )
    assert job["final_status"] == "success"
    assert job["attempt_number"] == 1
    assert job["runs"][0]["response_status"] == 200
    # And its history lists the push, the hand-over and the success, in that order, the last two naming the run
    with stack.client() as c:
        history = c.get(f"/api/jobs/{answer['job_id']}/events")
    assert history.status_code == 200, history.text
    events = history.json()["data"]
    assert [e["type"] for e in events] == ["JobPushed", "JobDue", "JobSucceeded"]
    assert events[1]["run_id"] == events[2]["run_id"] == job["runs"][0]["run_id"]


def test_quedup_run_at_job_runs_then_reads_completed(stack: Stack, receiver: Receiver) -> None:
    # Given a QuedUp job with run_at two seconds ahead
    run_at = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0) + timedelta(seconds=1)
    req = {
        "method": "POST",
        "name": "Database Backup",
        "url": receiver.url("/backup"),
        "body": "<string>",
        "headers": {"X-Job": "backup"},
        "run_at": run_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    with stack.client() as c:
        r = c.post("/jobs", json=req)
        # Then the Job object comes back, active, due at run_at
        assert r.status_code == 200, r.text
        job = r.json()
        assert job["id"].startswith("job_")
        assert job["status"] == "active"
        assert job["next_run_at"] == req["run_at"]
        assert {k: job[k] for k in ("name", "method", "url", "body", "headers", "schedule")} == {
            "name": "Database Backup",
            "method": "POST",
            "url": req["url"],
            "body": "<string>",
            "headers": {"X-Job": "backup"},
            "schedule": None,
        }
        # When run_at passes
        [got] = receiver.wait_for(lambda q: q.path == "/backup", timeout=10)
        # Then it arrived at run_at, within the precision, with its body and headers
        assert 0 <= got.at - run_at.timestamp() <= PRECISION
        assert got.body == "<string>" and got.headers["X-Job"] == "backup"
        # And the job reads completed with no next run
        done = eventually(
            lambda: (j := c.get(f"/jobs/{job['id']}").json())["status"] == "completed" and j, what="completed"
        )
        assert done["next_run_at"] is None
        # And a second job with the same name is refused
        assert c.post("/jobs", json=req).status_code == 409


def test_crons_fire_at_their_next_occurrence(stack: Stack, receiver: Receiver) -> None:
    # Given a QuedUp job and a Recuro cron on the same once-a-minute schedule, due at a second 2-3 s from now (a
    # seconds-first 6-field expression, so nothing waits for a minute boundary): the QuedUp job with a run_at too
    # (the schedule wins), the Recuro cron with a callback and a success assertion its receiver's answer breaks
    before = datetime.now(UTC)
    due = (before + timedelta(seconds=3)).replace(microsecond=0)
    expression = f"{due.second} * * * * *"
    with stack.client() as c:
        r = c.post(
            "/jobs",
            json={
                "method": "GET",
                "name": f"once-a-minute-{due.timestamp():.0f}",
                "url": receiver.url("/cron-tick"),
                "schedule": expression,
                "run_at": "2030-01-01T00:00:00Z",
            },
        )
        assert r.status_code == 200, r.text
        job = r.json()
        rc = c.post(
            "/api/crons",
            json={
                "name": "heartbeat",
                "url": receiver.url("/recuro-cron"),
                "cron_expression": expression,
                "payload": "beat",
                "callback_url": receiver.url("/recuro-cron-callback"),
                "success_assertions": [{"type": "body_contains", "value": "healthy"}],
            },
        )
        assert rc.status_code == 201, rc.text
        cron = rc.json()
    # Then next_run_at is that second, in each API's format
    next_run = datetime.fromisoformat(job["next_run_at"].replace("Z", "+00:00"))
    assert next_run == due
    assert datetime.fromisoformat(cron["next_run_at"]) == next_run
    assert (cron["cron_expression"], cron["is_active"], cron["name"]) == (expression, True, "heartbeat")
    # When it passes
    [tick] = receiver.wait_for(lambda q: q.path == "/cron-tick", timeout=10)
    [beat] = receiver.wait_for(lambda q: q.path == "/recuro-cron", timeout=10)
    # Then both requests arrived right at it
    assert 0 <= tick.at - next_run.timestamp() <= PRECISION
    assert 0 <= beat.at - next_run.timestamp() <= PRECISION
    assert tick.method == "GET"
    assert (beat.method, beat.body) == ("POST", "beat")
    # And the Recuro cron's callback reports the run, failed on its assertion (the receiver answers "ok")
    [callback] = receiver.wait_for(lambda q: q.path == "/recuro-cron-callback", timeout=10)
    summary = json.loads(callback.body)
    assert (summary["job_id"], summary["name"], summary["success"]) == (cron["id"], "heartbeat", False)
    assert summary["run"]["failure_reason"] == "assertion_failed"
    # And the QuedUp job stays active with the following minute as next_run_at
    with stack.client() as c:
        later = eventually(
            lambda: (j := c.get(f"/jobs/{job['id']}").json())["next_run_at"] != job["next_run_at"] and j,
            what="next_run_at moved on",
        )
        assert later["status"] == "active"
        assert later["next_run_at"] == (next_run + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert c.delete(f"/jobs/{job['id']}").status_code == 204
        assert c.delete(f"/api/crons/{cron['id']}").status_code == 204


def test_callback_follows_the_jobs_request(stack: Stack, receiver: Receiver) -> None:
    # Given a Recuro push with a callback_url
    with stack.client() as c:
        r = c.post(
            "/api/jobs",
            json={
                "queue": "webhooks",
                "url": receiver.url("/order-shipped"),
                "payload": {"event": "order.shipped", "order_id": 456},
                "callback_url": receiver.url("/recuro-callback"),
            },
        )
    assert r.status_code == 201
    job_id = r.json()["job_id"]
    # When the job runs
    [request] = receiver.wait_for(lambda q: q.path == "/order-shipped")
    [callback] = receiver.wait_for(lambda q: q.path == "/recuro-callback")
    # Then the callback POST comes after the job's request and summarises it
    assert callback.method == "POST" and callback.at >= request.at
    summary = json.loads(callback.body)
    assert summary["job_id"] == job_id
    assert summary["status"] == "completed" and summary["success"] is True
    assert summary["run"]["status_code"] == 200
    assert summary["queue"] == "webhooks"


def test_failed_job_is_marked_for_retry(stack: Stack, receiver: Receiver) -> None:
    # Given a receiver answering 500
    with stack.client() as c:
        r = c.post("/api/jobs", json={"queue": "flaky", "url": receiver.url("/status/500/flaky")})
        job_id = r.json()["job_id"]
        receiver.wait_for(lambda q: q.path == "/status/500/flaky")
        # Then the job failed, with the run's reason, and a retry is pending as a new job
        job = eventually(lambda: (j := c.get(f"/api/jobs/{job_id}").json())["final_status"] and j, what="final")
    assert job["status"] == "failed"
    assert job["final_status"] == "retrying"
    assert job["has_pending_retry"] is True
    assert isinstance(job["retry_job_id"], int)
    assert job["runs"][0]["failure_reason"] == "http_server_error"
    assert job["runs"][0]["response_status"] == 500


def _every_quedup_job(client: httpx.Client) -> dict[str, str]:
    """The tenant's whole ``GET /jobs`` list (every page), id -> name."""
    found: dict[str, str] = {}
    for page in range(100):
        jobs = client.get("/jobs", params={"limit": 1000, "offset": page * 1000}).json()
        found.update((j["id"], j["name"]) for j in jobs)
        if len(jobs) < 1000:
            break
    return found


def test_tenants_never_see_each_others_jobs(stack: Stack, receiver: Receiver) -> None:
    # Given tenant A's jobs in both APIs
    with stack.client() as a:
        recuro = a.post("/api/jobs", json={"queue": "private", "url": receiver.url("/a"), "delay": 3600}).json()
        quedup = a.post(
            "/jobs",
            json={
                "method": "POST",
                "name": "private",
                "url": receiver.url("/a"),
                "run_at": "2099-01-01T00:00:00Z",
            },
        ).json()
        eventually(lambda: a.get(f"/jobs/{quedup['id']}").status_code == 200, what="A sees its job")
    # And tenant B's own QuedUp job, so B's list has something to show
    with stack.client(stack.other_token) as b:
        own = f"b-own-{secrets.token_hex(3)}"
        mine = b.post(
            "/jobs", json={"method": "POST", "name": own, "url": receiver.url("/b"), "run_at": "2099-01-01T00:00:00Z"}
        ).json()
        eventually(lambda: b.get(f"/jobs/{mine['id']}").status_code == 200, what="B sees its job")
    # When tenant B asks for A's jobs
    with stack.client(stack.other_token) as b:
        # Then B gets 404 for each, and its list holds its own job and none of A's
        assert b.get(f"/api/jobs/{recuro['job_id']}").status_code == 404
        assert b.get(f"/jobs/{quedup['id']}").status_code == 404
        assert b.post(f"/jobs/{quedup['id']}/pause").status_code == 404
        listed = _every_quedup_job(b)
        assert listed.get(mine["id"]) == own
        assert quedup["id"] not in listed
    # And A's list holds A's job and not B's
    with stack.client() as a:
        theirs = _every_quedup_job(a)
    assert theirs.get(quedup["id"]) == "private"
    assert mine["id"] not in theirs
    with stack.client(stack.other_token) as b:
        # And the same queue name is a different queue for B
        other = b.post("/api/jobs", json={"queue": "private", "url": receiver.url("/b"), "delay": 3600}).json()
    assert other["queue_id"] != recuro["queue_id"]


def test_quedup_pause_update_resume_delete(stack: Stack, receiver: Receiver) -> None:
    # Given a job due in an hour
    with stack.client() as c:
        job = c.post(
            "/jobs",
            json={
                "method": "POST",
                "name": "lifecycle",
                "url": receiver.url("/never"),
                "run_at": "2099-01-01T00:00:00Z",
            },
        ).json()
        # When it is paused, it reads paused
        assert c.post(f"/jobs/{job['id']}/pause").json()["status"] == "paused"
        eventually(lambda: c.get(f"/jobs/{job['id']}").json()["status"] == "paused", what="paused")
        # When it is updated to run now-ish while paused, nothing is sent
        soon = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        patched = c.patch(f"/jobs/{job['id']}", json={"run_at": soon, "url": receiver.url("/resumed")})
        assert patched.status_code == 200, patched.text
        assert patched.json()["status"] == "paused" and patched.json()["next_run_at"] == soon
        eventually(lambda: c.get(f"/jobs/{job['id']}").json()["url"].endswith("/resumed"), what="update applied")
        # When it is resumed, it runs at once (its time has passed) and completes
        assert c.post(f"/jobs/{job['id']}/resume").json()["status"] == "active"
        receiver.wait_for(lambda q: q.path == "/resumed")
        eventually(lambda: c.get(f"/jobs/{job['id']}").json()["status"] == "completed", what="completed")
        assert receiver.matching(lambda q: q.path == "/never") == []
        # When it is deleted, it is gone
        assert c.delete(f"/jobs/{job['id']}").status_code == 204
        eventually(lambda: c.get(f"/jobs/{job['id']}").status_code == 404, what="deleted")
        # And its history is kept, from its creation to the delete, the run in between
        history = c.get(f"/jobs/{job['id']}/events")
        assert history.status_code == 200, history.text
        types = [e["type"] for e in history.json()]
        assert types[0] == "JobCreated" and types[-1] == "JobDeleted", types
        assert {"JobPaused", "JobUpdated", "JobResumed", "JobDue", "JobSucceeded"} <= set(types), types
