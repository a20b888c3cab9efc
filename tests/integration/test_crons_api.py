"""Recuro cron management and runs, end to end on the session stack (real broker, loopback receiver).

Bounded by design: the cron is on a far schedule (no firing is waited for); runs are read from Recuro jobs pushed
with `delay: 1`.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import Receiver


def _listed(client: httpx.Client, cron_id: int) -> dict[str, Any] | None:
    """The cron as the paged list shows it, walking every page (bounded)."""
    for page in range(1, 101):
        body = client.get("/api/crons", params={"page": page, "per_page": 100}).json()
        for cron in body["data"]:
            if cron["id"] == cron_id:
                found: dict[str, Any] = cron
                return found
        if body["links"]["next"] is None:
            return None
    return None


def test_a_cron_is_listed_read_paused_resumed_and_deleted(stack: Stack, receiver: Receiver) -> None:
    with stack.client() as client:
        # Given a cron on a far schedule (1 January, midnight) with every field set
        create = {
            "name": f"e2e-{uuid.uuid4().hex[:8]}", "url": receiver.url("/cron-e2e"), "cron_expression": "0 0 1 1 *",
            "method": "PUT", "headers": {"X-Env": "e2e"}, "payload": "tick", "timeout_seconds": 20,
            "alert_threshold": 3, "success_assertions": [{"type": "body_contains", "value": "ok"}],
        }  # fmt: skip
        r = client.post("/api/crons", json=create)
        assert r.status_code == 201, r.text
        cron_id = r.json()["id"]

        # When it is read and listed
        read = eventually(lambda: _ok(client.get(f"/api/crons/{cron_id}")), what="the new cron")
        listed = _listed(client, cron_id)

        # Then both show what was created, active, with its next run
        assert listed == read
        assert {k: read[k] for k in create} == create
        assert read["is_active"] is True and read["next_run_at"].endswith("-01-01T00:00:00+00:00")

        # When it is paused
        r = client.patch(f"/api/crons/{cron_id}", json={"is_active": False})
        assert r.status_code == 200, r.text
        # Then it reads inactive, with no next run
        paused = eventually(
            lambda: _where(client.get(f"/api/crons/{cron_id}"), lambda c: not c["is_active"]), what="paused"
        )
        assert paused["next_run_at"] is None

        # When it is renamed and resumed in one PATCH
        r = client.patch(f"/api/crons/{cron_id}", json={"is_active": True, "name": "renamed"})
        assert r.status_code == 200, r.text
        # Then it reads active under the new name, with its next run back, every other field kept
        resumed = eventually(
            lambda: _where(client.get(f"/api/crons/{cron_id}"), lambda c: c["is_active"] and c["name"] == "renamed"),
            what="resumed",
        )
        assert resumed["next_run_at"] == read["next_run_at"]
        assert {k: resumed[k] for k in create if k != "name"} == {k: v for k, v in create.items() if k != "name"}

        # When it is deleted
        r = client.delete(f"/api/crons/{cron_id}")
        assert r.status_code == 204, r.text
        # Then the cron and its runs are 404, and the list no longer holds it
        eventually(lambda: client.get(f"/api/crons/{cron_id}").status_code == 404, what="cron gone")
        assert client.get(f"/api/crons/{cron_id}/runs").status_code == 404
        assert client.patch(f"/api/crons/{cron_id}", json={"is_active": False}).status_code == 404
        assert _listed(client, cron_id) is None


def test_a_recuro_jobs_runs_record_the_request_and_the_response(stack: Stack, receiver: Receiver) -> None:
    with stack.client() as client:
        # Given a job pushed with a 1 s delay and a JSON payload
        path = f"/runs-e2e/{uuid.uuid4().hex}"
        payload = {"hello": "runs"}
        r = client.post("/api/jobs", json={"queue": "runs-e2e", "url": receiver.url(path), "delay": 1,
                                           "payload": payload, "headers": {"X-Trace": "t-1"}})  # fmt: skip
        assert r.status_code == 201, r.text
        job_id = r.json()["job_id"]

        # When it has run
        receiver.wait_for(lambda q: q.path == path, timeout=30)
        page = eventually(
            lambda: _where(client.get(f"/api/jobs/{job_id}/runs"), lambda p: p["meta"]["total"] == 1),
            what="the recorded run",
        )

        # Then its run holds the request as sent and the answer as received
        (run,) = page["data"]
        assert (run["job_id"], run["attempt_number"], run["status"], run["response_status"]) == (
            job_id,
            1,
            "success",
            200,
        )
        assert json.loads(run["request_body"]) == payload
        sent = {k.lower(): v for k, v in run["request_headers"].items()}
        assert sent["x-trace"] == "t-1" and sent["content-type"] == "application/json"
        assert "x-chronohook-run-id" in sent
        assert run["response_body"] == "ok" and run["response_truncated"] is False
        assert run["duration_ms"] >= 0 and run["started_at"] <= run["executed_at"]
        assert run["failure_reason"] is None and run["error_message"] is None
        # And another tenant cannot read them
        with stack.client(stack.other_token) as other:
            assert other.get(f"/api/jobs/{job_id}/runs").status_code == 404


def test_a_failed_run_says_why(stack: Stack, receiver: Receiver) -> None:
    with stack.client() as client:
        # Given a job whose target answers 500 (its retry waits the queue's first delay, 60 s: not waited for)
        path = f"/status/500/runs-e2e/{uuid.uuid4().hex}"
        r = client.post("/api/jobs", json={"queue": "runs-e2e-failing", "url": receiver.url(path), "delay": 1})
        assert r.status_code == 201, r.text
        job_id = r.json()["job_id"]

        # When it has run once
        receiver.wait_for(lambda q: q.path == path, timeout=30)
        page = eventually(
            lambda: _where(client.get(f"/api/jobs/{job_id}/runs"), lambda p: p["meta"]["total"] >= 1),
            what="the failed run",
        )

        # Then the run is failed, with Recuro's failure reason
        run = page["data"][-1]
        assert (run["status"], run["response_status"], run["failure_reason"]) == ("failed", 500, "http_server_error")
        assert run["error_message"]


def _ok(r: httpx.Response) -> dict[str, Any] | None:
    if r.status_code != 200:
        return None
    body: dict[str, Any] = r.json()
    return body


def _where(r: httpx.Response, condition: Any) -> dict[str, Any] | None:
    body = _ok(r)
    return body if body is not None and condition(body) else None
