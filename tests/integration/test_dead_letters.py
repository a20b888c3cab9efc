"""Dead letters end to end, on the session stack: a Recuro job whose every attempt fails ends dead-lettered on the
original, is listed, and a replay delivers it again; a delete takes the job, its retries and runs from every read;
a dead letter past its retention is purged by the timer."""

from __future__ import annotations

import http.server
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from chronohook.ids import recuro_job_key
from chronohook.kafka.config import producer_config
from chronohook.kafka.records import record_of
from chronohook.kafka.topics import Topics
from schemas.events import JobDeadLettered
from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import SECOND_HOST


class FlakyTarget:
    """Answers 500 to the first ``failures`` requests of each path, then 200; on an allowed loopback address."""

    def __init__(self, failures: int, host: str = SECOND_HOST) -> None:
        self.failures = failures
        self.host = host
        self.seen: dict[str, list[tuple[float, int, dict[str, str]]]] = {}
        self._lock = threading.Lock()
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with target._lock:
                    arrivals = target.seen.setdefault(self.path, [])
                    status = 500 if len(arrivals) < target.failures else 200
                    arrivals.append((time.time(), status, dict(self.headers.items())))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"no" if status == 500 else b"ok")

            do_GET = do_POST = _handle

            def log_message(self, *_args: object) -> None:
                return None

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 1024  # a burst must never overflow the accept queue
            daemon_threads = True

        self._server = Server((host, 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def statuses(self, path: str) -> list[int]:
        with self._lock:
            return [status for _, status, _ in self.seen.get(path, [])]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def target() -> Iterator[FlakyTarget]:
    # Three failures: an original and its two retries (retry_delays [1, 1]) all fail; the next request succeeds.
    t = FlakyTarget(failures=3)
    try:
        yield t
    finally:
        t.close()


def _queue(c: httpx.Client, retry_delays: list[int]) -> str:
    name = f"dlq-{secrets.token_hex(4)}"
    r = c.patch(f"/api/queues/{name}", json={"retry_delays": retry_delays})
    assert r.status_code == 200, r.text
    return name


def _listed(c: httpx.Client, queue: str) -> list[dict[str, Any]]:
    r = c.get("/api/dead-letters", params={"queue": queue})
    assert r.status_code == 200, r.text
    data: list[dict[str, Any]] = r.json()["data"]
    return data


def _dead_letter(c: httpx.Client, target: FlakyTarget, queue: str, path: str) -> int:
    # A second's delay: the timer has the queue's new settings well before the first failure
    r = c.post("/api/jobs", json={"queue": queue, "url": target.url(path), "delay": 1})
    assert r.status_code == 201, r.text
    job_id: int = r.json()["job_id"]
    eventually(lambda: [d for d in _listed(c, queue) if d["job_id"] == job_id], timeout=60, what="the dead letter")
    return job_id


def test_an_exhausted_job_is_dead_lettered_listed_and_replayed(stack: Stack, target: FlakyTarget) -> None:
    with stack.client() as c:
        # Given a queue retrying twice, a second apart, and a target that fails three times then succeeds
        queue = _queue(c, [1, 1])
        path = f"/flaky/{secrets.token_hex(4)}"
        # When a job is pushed there and every attempt fails
        job_id = _dead_letter(c, target, queue, path)
        # Then the original reads dead_lettered, and the dead letter lists its three attempts and the last failure
        assert target.statuses(path) == [500, 500, 500]
        job = eventually(
            lambda: (j := c.get(f"/api/jobs/{job_id}").json()).get("final_status") == "dead_lettered" and j,
            what="final_status dead_lettered",
        )
        assert job["dead_lettered_at"] is not None
        [letter] = _listed(c, queue)
        assert letter["attempts"] == 3 and letter["final_status"] == "dead_lettered"
        assert eventually(lambda: _listed(c, queue)[0]["last_failure"], what="the last failure")["response_status"]
        # When it is replayed
        r = c.post(f"/api/dead-letters/{job_id}/replay")
        assert r.status_code == 201, r.text
        fresh = r.json()["job_id"]
        # Then the target gets the request again, now answering 200, and the fresh job completes at attempt 1
        eventually(lambda: target.statuses(path) == [500, 500, 500, 200], timeout=30, what="the replay's delivery")
        done = eventually(
            lambda: (j := c.get(f"/api/jobs/{fresh}").json()).get("status") == "completed" and j,
            what="the replay completed",
        )
        assert done["attempt_number"] == 1 and done["final_status"] == "success"
        # And the dead letter is no longer listed; a second replay is refused
        eventually(lambda: _listed(c, queue) == [], what="the dead letter leaves the list")
        assert c.post(f"/api/dead-letters/{job_id}/replay").status_code == 409


def test_a_deleted_dead_letter_is_gone_with_its_retries_and_runs(stack: Stack, target: FlakyTarget) -> None:
    with stack.client() as c:
        # Given a dead letter whose chain is the original and one retry
        queue = _queue(c, [1])
        target.failures = 10
        job_id = _dead_letter(c, target, queue, f"/flaky/{secrets.token_hex(4)}")
        retry_id = c.get(f"/api/jobs/{job_id}").json()["retry_job_id"]
        assert isinstance(retry_id, int) and c.get(f"/api/jobs/{retry_id}").status_code == 200
        # When it is deleted
        assert c.delete(f"/api/dead-letters/{job_id}").status_code == 204
        # Then the job and its runs are gone from every read, and it is no longer listed
        eventually(lambda: c.get(f"/api/jobs/{job_id}").status_code == 404, what="the job gone")
        assert c.get(f"/api/jobs/{job_id}/runs").status_code == 404
        eventually(lambda: c.get(f"/api/jobs/{retry_id}").status_code == 404, what="its retry gone")
        assert _listed(c, queue) == []


def test_a_dead_letter_past_its_retention_is_purged_by_the_timer(stack: Stack, target: FlakyTarget) -> None:
    with stack.client() as c:
        # Given a dead letter (kept 14 days by default)
        queue = _queue(c, [1])
        target.failures = 10
        job_id = _dead_letter(c, target, queue, f"/flaky/{secrets.token_hex(4)}")
        # When its dead letter is told again with a retention that has run out (as if 14 days had passed)
        now = datetime.now(UTC)
        expired = JobDeadLettered(
            event_id=f"evt_{secrets.token_hex(12)}",
            job_id=recuro_job_key(job_id),
            tenant="tenant-a",
            occurred_at=now - timedelta(days=14, seconds=1),
            failed_run_id="expired",
            attempts=2,
            final_status="dead_lettered",
            purge_at=now - timedelta(seconds=1),
        )
        producer = Producer(producer_config(stack.settings))
        key, value, headers = record_of(expired)
        producer.produce(Topics.from_settings(stack.settings).events, value, key=key, headers=headers)
        assert producer.flush(10) == 0
        # Then the timer purges it: the job is gone from every read and no longer listed
        eventually(lambda: c.get(f"/api/jobs/{job_id}").status_code == 404, timeout=30, what="the purge")
        eventually(lambda: _listed(c, queue) == [], what="the dead letter gone")
