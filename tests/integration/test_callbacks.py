"""Completion callbacks end to end: sent by the executor after the job's request, retried through the log when the
receiver fails, each outcome an event in the job's history, and a pending retry survives kill -9 of the timer."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from chronohook.kafka.config import consumer_config
from chronohook.kafka.records import read_record
from chronohook.kafka.topics import Topics
from schemas import decode_event
from schemas.events import Event
from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import SECOND_HOST, Received, Receiver


class ScriptedReceiver:
    """Answers each request with the next status of its script, then 200; on an allowed loopback address."""

    def __init__(self, script: list[int], host: str = SECOND_HOST) -> None:
        self.host = host
        self.requests: list[Received] = []
        self._script = list(script)
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                at = time.time()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode(errors="replace") if length else ""
                with receiver._lock:
                    receiver.requests.append(Received(at, "POST", self.path, dict(self.headers.items()), body))
                    status = receiver._script.pop(0) if receiver._script else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

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

    def received(self, count: int, timeout: float) -> list[Received]:
        return eventually(
            lambda: got if len(got := list(self.requests)) >= count else None,
            timeout=timeout,
            what=f"{count} callback requests",
        )

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def flaky() -> Iterator[ScriptedReceiver]:
    r = ScriptedReceiver([500])
    try:
        yield r
    finally:
        r.close()


def history(stack: Stack, job_key: str, until: str, timeout: float = 30.0) -> list[Event]:
    """The job's events on the log, in order, once one of type ``until`` is among them (bounded)."""
    topic = Topics.from_settings(stack.settings).events
    consumer = Consumer(consumer_config(stack.settings, f"test-history-{job_key}"))
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(stack.settings.partitions)])
        found: list[Event] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            record = None if msg is None or msg.error() else read_record(msg)
            if record is None or record.key != job_key.encode():
                continue
            found.append(decode_event(record.value or b""))
            if found[-1].type == until:
                return found
        raise AssertionError(f"no {until} for {job_key} within {timeout} s: {[e.type for e in found]}")
    finally:
        consumer.close()


def _push(stack: Stack, receiver: Receiver, path: str, callback_url: str) -> str:
    with stack.client() as c:
        r = c.post(
            "/api/jobs",
            json={"queue": "callbacks", "url": receiver.url(path), "payload": {"n": 1}, "callback_url": callback_url},
        )
    assert r.status_code == 201, r.text
    return f"rj_{r.json()['job_id']}"


def test_a_callback_answered_500_is_retried_5_s_later_and_each_outcome_is_in_the_jobs_history(
    stack: Stack, receiver: Receiver, flaky: ScriptedReceiver
) -> None:
    # Given a job whose callback receiver answers 500 once, then 200
    job_key = _push(stack, receiver, "/cb-retried-job", flaky.url("/cb-retried"))
    # When the job runs
    [request] = receiver.wait_for(lambda q: q.path == "/cb-retried-job")
    first, second = flaky.received(2, timeout=30)
    # Then the callback came after the job's request, and again about 5 s after its failure, the same both times
    assert first.at >= request.at
    assert 4.9 <= second.at - first.at < 15
    assert first.body == second.body
    assert first.headers["X-Chronohook-Callback-Id"] == second.headers["X-Chronohook-Callback-Id"]
    assert first.headers["Content-Type"] == "application/json"
    assert json.loads(second.body)["status"] == "completed"
    # And the job's history holds every outcome, in order
    types = [e.type for e in history(stack, job_key, until="CallbackSucceeded")]
    callback_part = types[types.index("JobSucceeded") :]
    assert callback_part == [
        "JobSucceeded",
        "CallbackDue",
        "CallbackFailed",
        "CallbackRetryScheduled",
        "CallbackDue",
        "CallbackSucceeded",
    ]


def test_a_pending_callback_retry_survives_kill_9_of_the_timer(
    stack: Stack, receiver: Receiver, flaky: ScriptedReceiver
) -> None:
    # Given a callback whose first attempt failed, so its retry is pending in the timer
    _push(stack, receiver, "/cb-kill-job", flaky.url("/cb-kill"))
    flaky.received(1, timeout=30)
    # When the timer is killed with SIGKILL (the supervisor restarts it) before the retry is due
    old_pid = stack.supervisor.kill("timer")
    eventually(
        lambda: (p := stack.supervisor.children["timer"].process) is not None and p.pid != old_pid and p.poll() is None,
        timeout=30,
        what="timer restarted",
    )
    # Then the retry still goes out, restored from the timer's changelog
    first, second = flaky.received(2, timeout=60)
    assert first.headers["X-Chronohook-Callback-Id"] == second.headers["X-Chronohook-Callback-Id"]
    assert first.body == second.body
