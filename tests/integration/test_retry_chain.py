"""E2E on the session stack: a Recuro retry chain, exactly (decision 0016).

A queue patched to ``retry_delays: [1, 2]``; a receiver of our own (127.0.0.3) that fails a path's first N requests
and then answers 200. Three attempts about 1 s and 2 s apart with one ``webhook-id``, the original ending
``success``; an always-failing one ends ``dead_lettered`` on the original; with ``retries_enabled: false`` one
attempt and ``failed_no_retries``.
"""

from __future__ import annotations

import http.server
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
