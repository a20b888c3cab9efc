"""A queue's max_parallelism end to end: two executor processes together never have more of its jobs in flight.

The session stack runs one executor; this module starts a second (`chronohook serve executor` with the stack's
environment, a dynamic group member), waits until both hold partitions of the job log, and sends a burst of
a queue's jobs to a slow receiver of its own that counts the requests it is answering.
"""

from __future__ import annotations

import http.server
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient

from chronohook.kafka.topics import Topics
from services.executor.service import GROUP
from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import SECOND_HOST

pytestmark = pytest.mark.kafka

HOLD = 0.4  # seconds the receiver takes to answer each request
JOBS = 10
MAX_PARALLELISM = 2


class CountingReceiver:
    """Answers 200 after ``HOLD`` s, on SECOND_HOST; counts requests in flight per first path segment."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.in_flight: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.answered: dict[str, list[str]] = {}
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                group = self.path.split("/")[1]
                with receiver._lock:
                    now = receiver.in_flight.get(group, 0) + 1
                    receiver.in_flight[group] = now
                    receiver.most[group] = max(receiver.most.get(group, 0), now)
                time.sleep(HOLD)  # the slow target itself, in its own thread
                # Counted out before answering: the executor gives its queue slot back only after the answer, so a
                # request counted here never overlaps the next one the slot lets in.
                with receiver._lock:
                    receiver.in_flight[group] -= 1
                    receiver.answered.setdefault(group, []).append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args: object) -> None:
                return None

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 1024
            daemon_threads = True

        self._server = Server((SECOND_HOST, 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="counting-receiver")
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://{SECOND_HOST}:{self.port}{path}"

    def counts(self, group: str) -> tuple[int, int]:
        """(requests answered, most ever in flight) for one path group."""
        with self._lock:
            return len(self.answered.get(group, [])), self.most.get(group, 0)

    def paths(self, group: str) -> list[str]:
        with self._lock:
            return list(self.answered.get(group, []))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def counting_receiver() -> Iterator[CountingReceiver]:
    receiver = CountingReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


def _assignments(admin: AdminClient, topic: str, group_id: str) -> dict[str, int] | None:
    """Partitions of ``topic`` per group instance id when the executors' group is stable, else None."""
    try:
        group = admin.describe_consumer_groups([group_id], request_timeout=5)[group_id].result()
    except Exception:  # the coordinator may be moving: ask again
        return None
    if group.state != ConsumerGroupState.STABLE:
        return None
    return {
        str(member.group_instance_id or SECOND): sum(
            1 for tp in member.assignment.topic_partitions if tp.topic == topic
        )
        for member in group.members
    }


# The second executor's key among the group's members: the only one without a group instance id.
SECOND = "second-executor"


@pytest.fixture(scope="module")
def second_executor(stack: Stack) -> Iterator[str]:
    """Another executor process beside the stack's, holding some of the job log's partitions; stopped after."""
    # A dynamic member (no group instance id): it leaves the group as it closes, so the stack's executor takes the
    # job log back at once, not after a static member's 10 s session timeout.
    instance = SECOND
    env = {k: v for k, v in stack.supervisor.env.items() if k != "CHRONOHOOK_GROUP_INSTANCE_ID"}
    log_dir = stack.data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    admin = AdminClient({"bootstrap.servers": stack.settings.kafka_bootstrap})
    topic = Topics.from_settings(stack.settings).events
    executors = f"{stack.settings.topic_prefix}.{GROUP}"  # the executors' group id (chronohook/kafka/groups.py)
    with (log_dir / "executor-qp.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "chronohook.cli", "serve", "executor"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        # Both executors hold partitions of the job log before any job of the test is due.
        eventually(
            lambda: (
                (a := _assignments(admin, topic, executors)) is not None
                and len(a) >= 2
                and a.get(instance, 0) > 0
                and all(n > 0 for n in a.values())
            ),
            timeout=90,
            interval=0.5,
            what="two executors sharing the job log",
        )
        yield instance
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        # Wait for the stack's executor to serve the whole job log again, so later tests find it served.
        eventually(
            lambda: (
                (a := _assignments(admin, topic, executors)) is not None and instance not in a and sum(a.values()) > 0
            ),
            timeout=90,
            interval=0.5,
            what="the stack's executor serving the whole job log again",
        )


def _push_due_together(stack: Stack, receiver: CountingReceiver, queue: str) -> None:
    """JOBS jobs of ``queue`` due at one moment 3 s from now, spread over the job log's partitions (so over both
    executors), each to its own path under ``/<queue>/``."""
    due = datetime.now(UTC) + timedelta(seconds=3)
    run_at = due.strftime("%Y-%m-%dT%H:%M:%S.") + f"{due.microsecond // 1000:03d}Z"
    jobs = [{"queue": queue, "url": receiver.url(f"/{queue}/{i}"), "run_at": run_at} for i in range(JOBS)]
    with stack.client() as c:
        r = c.post("/api/jobs/batch", json={"jobs": jobs})
    assert r.status_code in (200, 201), r.text


def test_max_parallelism_2_holds_across_two_executor_processes(
    stack: Stack, second_executor: str, counting_receiver: CountingReceiver
) -> None:
    del second_executor  # running: that is the point
    queue = f"qp-{secrets.token_hex(4)}"
    with stack.client() as c:
        # Given a queue whose max_parallelism is 2 (jobs take the settings in force when they run)
        r = c.patch(f"/api/queues/{queue}", json={"max_parallelism": MAX_PARALLELISM})
        assert r.status_code == 200, r.text
        assert r.json()["max_parallelism"] == MAX_PARALLELISM
        eventually(
            lambda: c.get(f"/api/queues/{queue}").json().get("max_parallelism") == MAX_PARALLELISM,
            timeout=30,
            what="the queue's settings read back",
        )
    # When 10 of its jobs come due at one moment, on both executors
    _push_due_together(stack, counting_receiver, queue)
    # Then all 10 are delivered, and the receiver never had a third in flight
    eventually(lambda: counting_receiver.counts(queue)[0] >= JOBS, timeout=90, interval=0.05, what=f"{JOBS} deliveries")
    _, most = counting_receiver.counts(queue)
    assert sorted(set(counting_receiver.paths(queue))) == sorted(f"/{queue}/{i}" for i in range(JOBS))
    assert most <= MAX_PARALLELISM, f"{most} requests of the queue were in flight at once"
    assert most == MAX_PARALLELISM  # the jobs did run side by side, up to the bound


def test_an_unbounded_queue_overlaps_more_the_control(
    stack: Stack, second_executor: str, counting_receiver: CountingReceiver
) -> None:
    del second_executor
    # Given a queue without max_parallelism (the receiver and the burst as above)
    queue = f"qp-free-{secrets.token_hex(4)}"
    # When 10 of its jobs come due at one moment
    _push_due_together(stack, counting_receiver, queue)
    # Then more than 2 are in flight at once: the bound above is the gate's doing, not the receiver's or the timer's
    eventually(lambda: counting_receiver.counts(queue)[0] >= JOBS, timeout=90, interval=0.05, what=f"{JOBS} deliveries")
    assert counting_receiver.counts(queue)[1] > MAX_PARALLELISM
