"""Recuro queue settings end to end, on the session stack: a paused queue holds its jobs and releases them on
resume; a queue's timeout applies to its jobs when they run."""

from __future__ import annotations

import http.server
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import SECOND_HOST, Receiver

SLOW_ANSWER_S = 3.0


class SlowReceiver:
    """Answers 200 after SLOW_ANSWER_S seconds (or at once when closed); on an allowed loopback address."""

    def __init__(self, host: str = SECOND_HOST) -> None:
        self.host = host
        self.arrived = 0
        self._closing = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                receiver.arrived += 1
                receiver._closing.wait(SLOW_ANSWER_S)  # the slow target under test, not a test's sleep
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    return  # the executor gave up waiting and closed the connection: that is the point

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

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def slow() -> Iterator[SlowReceiver]:
    server = SlowReceiver()
    try:
        yield server
    finally:
        server.close()


def _patched(stack: Stack, queue: str, body: dict[str, Any]) -> None:
    """PATCH the queue, then wait until the read model shows it (the timers read the same topic)."""
    with stack.client() as c:
        r = c.patch(f"/api/queues/{queue}", json=body)
        assert r.status_code == 200, r.text

        def shown() -> bool:
            got = c.get(f"/api/queues/{queue}")
            return got.status_code == 200 and all(got.json()[k] == v for k, v in body.items())

        eventually(shown, what=f"queue {queue} showing {body}")


def test_a_paused_queue_holds_its_job_and_releases_it_on_resume(stack: Stack, receiver: Receiver) -> None:
    # Given a queue paused before its first job
    queue = f"paused-{secrets.token_hex(4)}"
    path = f"/queues/{queue}"
    _patched(stack, queue, {"is_active": False})

    # When a job due in 1 s is pushed to it
    with stack.client() as c:
        r = c.post("/api/jobs", json={"queue": queue, "url": receiver.url(path), "delay": 1})
        assert r.status_code == 201, r.text

    # Then it does not arrive within 3 s
    with pytest.raises(AssertionError):
        receiver.wait_for(lambda q: q.path == path, timeout=3.0)

    # When the queue resumes
    resumed_at = time.time()
    with stack.client() as c:
        assert c.patch(f"/api/queues/{queue}", json={"is_active": True}).status_code == 200

    # Then the held job arrives promptly, once
    (got,) = receiver.wait_for(lambda q: q.path == path, timeout=10.0)
    assert got.at - resumed_at < 5.0


def test_a_queues_timeout_applies_to_its_jobs(stack: Stack, slow: SlowReceiver) -> None:
    # Given a queue with a 1 s timeout (and no retries, so the job ends at its first run)
    queue = f"timeout-{secrets.token_hex(4)}"
    _patched(stack, queue, {"timeout_seconds": 1, "retries_enabled": False})

    # When a job to a target that answers after 3 s runs
    with stack.client() as c:
        r = c.post("/api/jobs", json={"queue": queue, "url": slow.url("/slow")})
        assert r.status_code == 201, r.text
        job_id = r.json()["job_id"]

        # Then its run fails with failure_reason timeout
        def failed_run() -> dict[str, Any] | None:
            got = c.get(f"/api/jobs/{job_id}")
            runs: list[dict[str, Any]] = got.json().get("runs", []) if got.status_code == 200 else []
            return runs[0] if runs else None

        run = eventually(failed_run, timeout=20.0, what="the job's run")
    assert run["failure_reason"] == "timeout", run
    assert run["duration_ms"] < SLOW_ANSWER_S * 1000
    assert slow.arrived >= 1
