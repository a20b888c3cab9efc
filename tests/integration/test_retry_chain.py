"""E2E on the session stack: a Recuro retry chain, exactly (decision 0016).

A queue patched to ``retry_delays: [1, 2]``; a receiver of our own (127.0.0.3) that fails a path's first N requests
and then answers 200. Three attempts about 1 s and 2 s apart with one ``webhook-id``, the original ending
``success``; an always-failing one ends ``dead_lettered`` on the original; with ``retries_enabled: false`` one
attempt and ``failed_no_retries``. A dead-lettered chain with a callback_url: every run's callback body says what
``GET /api/jobs/{that job}`` says (decision 0034).
"""

from __future__ import annotations

import http.server
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import SECOND_HOST

HOLD_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Hit:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes = b""


class _Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024  # a burst must not overflow the accept queue
    daemon_threads = True


class FlakyReceiver:
    """``/fail/<n>/<anything>`` answers 503 to its first ``n`` requests, then 200; every request is recorded."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}
        self._gates: dict[str, threading.Event] = {}
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = self.path.split("/")
                fails = int(parts[2]) if len(parts) > 3 and parts[1] == "fail" and parts[2].isdigit() else 0
                with owner._lock:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    owner.hits.append(Hit(time.time(), self.path, headers, body))
                    seen = owner._seen.get(self.path, 0)
                    owner._seen[self.path] = seen + 1
                    gate = owner._gates.get(self.path) if seen else None
                if gate is not None:
                    gate.wait(HOLD_TIMEOUT_S)  # a held path's later requests wait until the test lets them go
                status = 503 if seen < fails else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"no")

            def log_message(self, *_: Any) -> None:
                pass

        self._server = _Server((SECOND_HOST, 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://{SECOND_HOST}:{self.port}{path}"

    def hold(self, path: str) -> threading.Event:
        """Every request to ``path`` after its first waits (at most ``HOLD_TIMEOUT_S``) until the event is set."""
        with self._lock:
            gate = self._gates[path] = threading.Event()
        return gate

    def hits_for(self, path: str) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.path == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture(scope="module")
def flaky() -> Iterator[FlakyReceiver]:
    receiver = FlakyReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


def _queue(c: httpx.Client, settings: dict[str, object]) -> str:
    name = f"retry-{secrets.token_hex(4)}"
    r = c.patch(f"/api/queues/{name}", json=settings)
    assert r.status_code == 200, r.text
    return name


def _final(c: httpx.Client, job_id: int, wanted: str, timeout: float = 30) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        body: dict[str, Any] = c.get(f"/api/jobs/{job_id}").json()
        return body if body.get("final_status") == wanted else None

    return eventually(probe, timeout=timeout, what=f"job {job_id} final_status {wanted}")


def test_a_receiver_failing_twice_gets_three_attempts_1_s_and_2_s_apart_with_one_webhook_id(
    stack: Stack, flaky: FlakyReceiver
) -> None:
    # Given a queue retrying after 1 s and 2 s, and a receiver that fails twice, then succeeds
    path = f"/fail/2/{secrets.token_hex(4)}"
    with stack.client() as c:
        queue = _queue(c, {"retry_delays": [1, 2]})
        # When a job is pushed to it
        r = c.post("/api/jobs", json={"queue": queue, "url": flaky.url(path), "payload": {"n": 1}})
        assert r.status_code == 201, r.text
        job_id = r.json()["job_id"]
        hits = eventually(lambda: h if len(h := flaky.hits_for(path)) >= 3 else None, timeout=30, what="3 hits")
        # Then the original reads success once the chain resolved, with nothing pending
        original = _final(c, job_id, "success")
        retry_ids: list[int] = []
        current = original
        for _ in range(3):
            if current["retry_job_id"] is None:
                break
            retry_ids.append(current["retry_job_id"])
            current = c.get(f"/api/jobs/{current['retry_job_id']}").json()
        retries = [c.get(f"/api/jobs/{i}").json() for i in retry_ids]
        secret = c.get("/api/signing-secret").json()["secret"]
        # (the retries' runs may be projected a moment after the original's final status)
        runs = eventually(
            lambda: d if len(d := c.get(f"/api/jobs/{job_id}/runs").json()["data"]) == 3 else None,
            what="the chain's three runs listed",
        )

    # Then exactly three attempts arrived, about 1 s and 2 s apart
    assert len(hits) == 3
    gaps = [b.at - a.at for a, b in pairwise(hits)]
    assert 0.9 <= gaps[0] < 3.0, gaps
    assert 1.9 <= gaps[1] < 4.5, gaps
    # And all three carried one webhook-id, each signature verifying with the secret from GET /api/signing-secret
    assert len({h.headers["webhook-id"] for h in hits}) == 1
    assert [Webhook(secret).verify(h.body, h.headers) for h in hits] == [{"n": 1}] * 3
    # And GET /api/jobs/{id}/runs lists the three attempts, newest first
    assert [r["attempt_number"] for r in runs] == [3, 2, 1]
    assert [r["response_status"] for r in runs] == [200, 503, 503]
    # And the original carries the chain: success, nothing pending, not a retry, no dead-letter time
    assert (original["status"], original["attempt_number"], original["is_retry"]) == ("failed", 1, False)
    assert (original["has_pending_retry"], original["dead_lettered_at"]) == (False, None)
    # And each retry is a job of its own, linked to the original, counting attempts
    assert [(r["is_retry"], r["retry_of"], r["attempt_number"]) for r in retries] == [
        (True, job_id, 2),
        (True, job_id, 3),
    ]
    assert [r["final_status"] for r in retries] == ["failed_with_retries", "success"]


def test_an_always_failing_job_ends_dead_lettered_on_the_original(stack: Stack, flaky: FlakyReceiver) -> None:
    # Given a queue retrying after 1 s and 2 s, and a receiver that always fails
    path = f"/fail/99/{secrets.token_hex(4)}"
    with stack.client() as c:
        queue = _queue(c, {"retry_delays": [1, 2]})
        # When a job is pushed to it
        job_id = c.post("/api/jobs", json={"queue": queue, "url": flaky.url(path)}).json()["job_id"]
        # Then the original ends dead_lettered, with the time
        original = _final(c, job_id, "dead_lettered")
    assert original["dead_lettered_at"] is not None
    assert original["has_pending_retry"] is False
    # And exactly three attempts were made, one webhook-id across them
    hits = flaky.hits_for(path)
    assert len(hits) == 3
    assert len({h.headers["webhook-id"] for h in hits}) == 1


def test_retries_disabled_make_one_attempt_and_failed_no_retries(stack: Stack, flaky: FlakyReceiver) -> None:
    # Given a queue with retries off, and a receiver that always fails
    path = f"/fail/99/{secrets.token_hex(4)}"
    with stack.client() as c:
        queue = _queue(c, {"retries_enabled": False})
        # When a job is pushed to it
        job_id = c.post("/api/jobs", json={"queue": queue, "url": flaky.url(path)}).json()["job_id"]
        # Then it ends failed_no_retries, with no dead-letter time and no retry job
        original = _final(c, job_id, "failed_no_retries")
    assert (original["dead_lettered_at"], original["retry_job_id"], original["has_pending_retry"]) == (
        None,
        None,
        False,
    )
    # And only one attempt was made (the decision that there is no retry came with that final status)
    assert len(flaky.hits_for(path)) == 1


def _callback(flaky: FlakyReceiver, path: str, count: int) -> dict[str, Any]:
    """The ``count``-th callback body received on ``path``."""
    hits = eventually(
        lambda: h if len(h := flaky.hits_for(path)) >= count else None, timeout=30, what=f"callback {count}"
    )
    body: dict[str, Any] = json.loads(hits[count - 1].body)
    return body


def _reads_the_same(c: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    """``GET /api/jobs/{the callback's job}`` once its run is projected; asserts it says what the callback said."""
    job_id = body["job_id"]
    run_id = body["run"]["run_id"]

    def probe() -> dict[str, Any] | None:
        job: dict[str, Any] = c.get(f"/api/jobs/{job_id}").json()
        ran = any(r["run_id"] == run_id for r in job.get("runs", []))
        return job if ran and job.get("final_status") is not None else None

    job = eventually(probe, timeout=30, what=f"job {job_id}'s run {run_id} projected")
    [run] = [r for r in job["runs"] if r["run_id"] == run_id]
    assert (job["id"], job["queue"], job["queue_id"]) == (body["job_id"], body["queue"], body["queue_id"])
    assert (job["status"], job["final_status"]) == (body["status"], body["final_status"])
    assert run["attempt_number"] == job["attempt_number"] == body["attempt_number"]
    assert (run["response_status"], run["failure_reason"], run["error_message"]) == (
        body["run"]["status_code"],
        body["run"]["failure_reason"],
        body["run"]["error_message"],
    )
    assert (run["started_at"], run["executed_at"]) == (body["run"]["started_at"], body["run"]["executed_at"])
    return job


def test_a_dead_lettered_chain_s_callbacks_say_what_each_job_reads(stack: Stack, flaky: FlakyReceiver) -> None:
    # Given a queue retrying once after 1 s, a receiver that always fails and holds the retry's request until the test
    # lets it go, and a callback_url answering 200
    token = secrets.token_hex(4)
    path, cb_path = f"/fail/99/{token}", f"/cb/{token}"
    release = flaky.hold(path)
    try:
        with stack.client() as c:
            queue = _queue(c, {"retry_delays": [1]})
            # When a job with a callback_url is pushed to it and its first attempt fails
            r = c.post("/api/jobs", json={"queue": queue, "url": flaky.url(path), "callback_url": flaky.url(cb_path)})
            assert r.status_code == 201, r.text
            job_id = r.json()["job_id"]
            first = _callback(flaky, cb_path, 1)
            # Then, while the retry is held, the original's GET says what its callback said: retrying
            original = _reads_the_same(c, first)
            assert (first["job_id"], first["final_status"], original["has_pending_retry"]) == (job_id, "retrying", True)
            # When the retry is let go, fails, and ends the chain
            release.set()
            second = _callback(flaky, cb_path, 2)
            # Then the retry's GET says what its callback said: its own attempt failed
            retry = _reads_the_same(c, second)
            assert (second["final_status"], retry["is_retry"], retry["retry_of"]) == (
                "failed_with_retries",
                True,
                job_id,
            )
            assert second["job_id"] == original["retry_job_id"]
            # And the chain's outcome is its original's: dead-lettered, listed as a dead letter
            dead = _final(c, job_id, "dead_lettered")
            letters = eventually(
                lambda: d if (d := c.get("/api/dead-letters", params={"queue": queue}).json()["data"]) else None,
                what="the original listed as a dead letter",
            )
    finally:
        release.set()
    assert dead["dead_lettered_at"] is not None and dead["has_pending_retry"] is False
    assert [d["job_id"] for d in letters] == [job_id]
    # And exactly two attempts and two callbacks were sent
    assert len(flaky.hits_for(path)) == 2 and len(flaky.hits_for(cb_path)) == 2
