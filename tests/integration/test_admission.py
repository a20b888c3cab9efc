"""Per-tenant admission on the real broker (decision 0029): one tenant's jobs to a host that accepts connections and
never answers, more of them than the executor's old admission window (2,048), leave another tenant's jobs on time."""

from __future__ import annotations

import contextlib
import secrets
import socket
import statistics
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from chronohook.store.engine import make_engine
from chronohook.store.tokens import create_token
from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import SECOND_HOST, Receiver

pytestmark = pytest.mark.kafka

C_JOBS = 2_500  # more than the old window of 8 x 256 permits, all due at one instant
B_JOBS = 50  # tenant B's, one every 100 ms from a second after that instant on, while C's requests hang
B_START = timedelta(seconds=1)
B_EVERY = timedelta(milliseconds=100)
TIMEOUT_S = 2  # C's queue's request timeout: short, so the test stays short; the point is B is not blocked meanwhile
LATENESS_S = 0.75  # each of B's jobs reaches its receiver within this of its due time (well under a second)
MEDIAN_S = 0.1  # and half of them within this


class NeverAnswers:
    """A TCP server on SECOND_HOST (an address the stack's egress allows) that accepts every connection, with a
    backlog of 1,024, and never reads or answers; it counts what it accepted."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((SECOND_HOST, 0))
        self._sock.listen(1024)
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="never-answers", daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://{SECOND_HOST}:{self.port}{path}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._held.append(conn)
            self.accepted += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self._held:
            with contextlib.suppress(OSError):
                conn.close()
        self._sock.close()


@pytest.fixture
def never_answers() -> Iterator[NeverAnswers]:
    server = NeverAnswers()
    try:
        yield server
    finally:
        # Closed: C's jobs still parked fail at once (connection refused) and leave the session stack quiet.
        server.close()


@pytest.fixture
def tenant_c(stack: Stack) -> str:
    engine = make_engine(stack.settings.resolved_database_url)
    try:
        return create_token(engine, f"tenant-c-{secrets.token_hex(3)}")
    finally:
        engine.dispose()


def _rfc3339_ms(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def test_a_host_that_never_answers_does_not_hold_back_another_tenants_jobs(
    stack: Stack, receiver: Receiver, never_answers: NeverAnswers, tenant_c: str
) -> None:
    # Given tenant C's 2,500 jobs due at instant T to a host that accepts and never answers (a 2 s timeout, no
    # retries), and tenant B's 50 jobs due one every 100 ms from T + 1 s on, to a receiver that answers at once.
    # (From T + 1 s: the burst at T itself is the timer's, one transaction for C's 2,500; what is tested here is
    # that C's hanging requests, and the 2,468 parked behind them, hold nothing of B's. With the old admission
    # window they held all 2,048 permits, and B's jobs waited for C's to drain: 32 per 2 s, minutes.)
    tag = secrets.token_hex(4)
    due = (datetime.now(UTC) + timedelta(seconds=8)).replace(microsecond=0) + timedelta(milliseconds=250)
    c_queue, b_queue = f"hung-c-{tag}", f"on-time-b-{tag}"
    b_due = {f"/adm-b-{tag}/{i}": due + B_START + i * B_EVERY for i in range(B_JOBS)}
    with stack.client(tenant_c) as c, stack.client(stack.other_token) as b:
        r = c.patch(f"/api/queues/{c_queue}", json={"timeout_seconds": TIMEOUT_S, "retries_enabled": False})
        assert r.status_code == 200, r.text
        run_at = _rfc3339_ms(due)
        for start in range(0, C_JOBS, 1_000):
            jobs = [
                {"queue": c_queue, "url": never_answers.url(f"/c/{i}"), "run_at": run_at}
                for i in range(start, min(start + 1_000, C_JOBS))
            ]
            r = c.post("/api/jobs/batch", json={"jobs": jobs})
            assert r.status_code == 201, r.text
        jobs = [{"queue": b_queue, "url": receiver.url(p), "run_at": _rfc3339_ms(t)} for p, t in b_due.items()]
        r = b.post("/api/jobs/batch", json={"jobs": jobs})
        assert r.status_code == 201, r.text
    assert datetime.now(UTC) < due - timedelta(seconds=1), "the jobs took too long to push; T is too close"

    # When T passes and C's requests hang
    last = max(b_due.values()).timestamp()
    got = receiver.wait_for(lambda q: q.path in b_due, count=B_JOBS, timeout=last - datetime.now(UTC).timestamp() + 20)

    # Then every one of B's jobs reached its receiver within 0.75 s of its due time (half within 0.1 s), while C's
    # were hanging
    by_due = [round((q.at - b_due[q.path].timestamp()) * 1000) for q in sorted(got, key=lambda q: b_due[q.path])]
    lateness = sorted(q.at - b_due[q.path].timestamp() for q in got)
    assert len(got) == B_JOBS
    why = f"B's lateness in ms, by due time: {by_due}"
    assert lateness[-1] <= LATENESS_S and statistics.median(lateness) <= MEDIAN_S, why
    assert lateness[0] >= -0.01, "a job was sent before its due time"
    # And C's host had the executor's connections, one per request in flight, hanging (at most its host's cap
    # at a time: 32 per executor; each times out after 2 s, so a few rounds of them by now)
    eventually(lambda: never_answers.accepted >= stack.settings.host_concurrency, timeout=10, what="C's requests")
