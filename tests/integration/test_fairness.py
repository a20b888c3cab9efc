"""Fair delivery end to end: one tenant's slow target neither delays another tenant's due job nor gets more than
CHRONOHOOK_HOST_CONCURRENCY requests in flight from the executor."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import SECOND_HOST, Receiver

pytestmark = pytest.mark.kafka

HOLD = 10.0  # seconds the slow target takes to answer
PRECISION = 0.100  # seconds: B's job reaches its receiver within this of its due time
A_JOBS = 500


class SlowTarget:
    """An aiohttp server on SECOND_HOST, in its own thread and loop, answering each request ``HOLD`` s after it
    arrives, or at once after ``release()``. Counts requests in flight and the most ever in flight."""

    def __init__(self) -> None:
        self.arrived: list[float] = []
        self.answered = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="slow-target")
        self._release: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)

    def url(self, path: str) -> str:
        return f"http://{SECOND_HOST}:{self.port}{path}"

    def counts(self) -> tuple[int, int, int, int]:
        """(arrived, answered, in flight now, most ever in flight)."""
        with self._lock:
            return len(self.arrived), self.answered, self.in_flight, self.most_in_flight

    def release(self) -> None:
        """Answer everything held, and everything after, at once."""
        assert self._release is not None
        self._loop.call_soon_threadsafe(self._release.set)

    def close(self) -> None:
        try:
            self.release()
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=15)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    async def _start(self) -> int:
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # Closing drops every connection, so the executor sees an error at once rather than its own timeout.
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        # A burst of due jobs must not overflow the accept queue.
        site = web.TCPSite(self._runner, SECOND_HOST, 0, backlog=1024)
        await site.start()
        return int(self._runner.addresses[0][1])

    async def _stop(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        del request  # every path is answered alike
        assert self._release is not None
        with self._lock:
            self.arrived.append(time.time())
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), HOLD)
            return web.Response(text="ok")
        finally:
            with self._lock:
                self.in_flight -= 1
                self.answered += 1


@pytest.fixture
def slow_target() -> Iterator[SlowTarget]:
    target = SlowTarget()
    try:
        yield target
    finally:
        target.close()


def _rfc3339_ms(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def test_a_tenants_slow_target_does_not_delay_another_tenants_due_job(
    stack: Stack, receiver: Receiver, slow_target: SlowTarget
) -> None:
    # Given tenant A's 500 jobs to a target that answers after 10 s, and tenant B's one job, all due at instant T
    tag = secrets.token_hex(4)
    due = (datetime.now(UTC) + timedelta(seconds=5)).replace(microsecond=0) + timedelta(milliseconds=250)
    run_at = _rfc3339_ms(due)
    b_path = f"/fair-b-{tag}"
    a_jobs = [
        {"queue": f"fair-a-{tag}", "url": slow_target.url(f"/a/{tag}/{i}"), "method": "GET", "run_at": run_at}
        for i in range(A_JOBS)
    ]
    with stack.client() as a, stack.client(stack.other_token) as b:
        ra = a.post("/api/jobs/batch", json={"jobs": a_jobs})
        assert ra.status_code == 201, ra.text
        rb = b.post("/api/jobs", json={"queue": f"fair-b-{tag}", "url": receiver.url(b_path), "run_at": run_at})
        assert rb.status_code == 201, rb.text
    assert datetime.now(UTC) < due - timedelta(seconds=1), "the jobs took too long to push; T is too close"
    try:
        # When T passes
        [got] = receiver.wait_for(lambda q: q.path == b_path, timeout=20)
        arrived, answered, _, _ = slow_target.counts()
        # Then B's job reached its receiver within 100 ms of T
        lateness = got.at - due.timestamp()
        assert -0.01 <= lateness <= PRECISION, f"B arrived {lateness * 1000:.1f} ms after T"
        # And A's requests were being held by then: A's slow target was busy, not finished
        assert answered == 0, f"{answered} of A's requests were answered before B's arrived"
        # And A's target gets exactly the per-host cap in flight from the executor, and no more
        cap = stack.settings.host_concurrency
        eventually(lambda: slow_target.counts()[2] >= cap, timeout=10, what=f"{cap} of A's requests in flight")
        assert slow_target.counts()[3] == cap
        assert arrived <= cap
    finally:
        # Let A's backlog drain at once, so the session stack is quiet for the tests after this one
        slow_target.release()
        eventually(lambda: slow_target.counts()[1] >= A_JOBS, timeout=60, what="A's 500 requests answered")
    assert slow_target.counts()[3] == stack.settings.host_concurrency
