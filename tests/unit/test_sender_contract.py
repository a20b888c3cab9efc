"""One contract for every HttpSender: the real aiohttp one (against a local receiver) and the in-memory fake."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import pytest
from aiohttp import web

from chronohook.outbound.sender import AiohttpSender, HttpSender, InMemorySender, SendResult
from schemas.events import HttpRequestSpec

T = TypeVar("T")


@dataclass(frozen=True)
class Seen:
    """A request as the far end saw it (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: str | None


class Receiver:
    """An aiohttp server on 127.0.0.1 in its own thread and loop; records requests.

    ``/status/<code>`` answers that code, ``/redirect`` a 302 to ``/landing``, ``/slow`` only once the receiver
    closes (so a client timeout fires without any sleep), anything else 200.
    """

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="test-receiver")
        self._release: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    def start(self) -> None:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)

    def close(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self.requests)

    async def _start(self) -> int:
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return int(self._runner.addresses[0][1])

    async def _stop(self) -> None:
        assert self._release is not None
        assert self._runner is not None
        self._release.set()
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        with self._lock:
            self.requests.append(
                Seen(
                    request.method,
                    request.path,
                    {k.lower(): v for k, v in request.headers.items()},
                    raw.decode() if raw else None,
                )
            )
        parts = request.path.split("/")
        if request.path == "/redirect":
            return web.Response(status=302, headers={"Location": "/landing"})
        if request.path == "/set-cookie":
            return web.Response(status=200, text="ok", headers={"Set-Cookie": "session=tenant-a; Path=/"})
        if request.path == "/slow":
            assert self._release is not None
            await self._release.wait()
        if len(parts) > 2 and parts[1] == "status" and parts[2].isdigit():
            return web.Response(status=int(parts[2]), text="status")
        return web.Response(status=200, text="hello")


@dataclass
class Harness:
    """A sender under test plus a view of what reached the far end."""

    name: str
    factory: Callable[[], HttpSender]
    url: Callable[[str], str]
    seen: Callable[[], list[Seen]]

    def run(self, scenario: Callable[[HttpSender], Awaitable[T]]) -> T:
        """Open a sender inside a fresh event loop, run the scenario, always close the sender."""

        async def main() -> T:
            sender = self.factory()
            try:
                return await scenario(sender)
            finally:
                await sender.close()

        return asyncio.run(main())


def _in_memory_harness() -> Harness:
    base = "http://receiver.test"
    holder: list[InMemorySender] = []

    def factory() -> HttpSender:
        sender = InMemorySender(answers={f"{base}/status/500": 500, f"{base}/status/404": 404})
        holder.append(sender)
        return sender

    def seen() -> list[Seen]:
        return [
            Seen(r.method, r.url.removeprefix(base), {k.lower(): v for k, v in r.headers.items()}, r.body)
            for s in holder
            for r in s.requests
        ]

    return Harness("in_memory", factory, lambda path: base + path, seen)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    try:
        yield r
    finally:
        r.close()


@pytest.fixture(params=["aiohttp", "in_memory"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "in_memory":
        yield _in_memory_harness()
        return
    r = Receiver()
    r.start()
    try:
        yield Harness("aiohttp", AiohttpSender, r.url, r.seen)
    finally:
        r.close()


def spec(url: str, method: str = "POST", body: str | None = None, timeout: float = 5.0) -> HttpRequestSpec:
    return HttpRequestSpec(method=method, url=url, body=body, timeout_seconds=timeout)


def send(harness: Harness, request: HttpRequestSpec, headers: dict[str, str] | None = None) -> SendResult:
    async def scenario(sender: HttpSender) -> SendResult:
        return await sender.send(request, headers or {})

    return harness.run(scenario)


# -- the shared contract -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "body"), [("POST", '{"subject":"Welcome!"}'), ("PUT", "plain text"), ("GET", None)])
def test_method_headers_and_body_arrive(harness: Harness, method: str, body: str | None) -> None:
    # Given a request with custom headers
    headers = {"X-Custom-Header": "value", "X-Chronohook-Run-Id": "rj_1:0:1", "Content-Type": "application/json"}

    # When it is sent
    result = send(harness, spec(harness.url("/hook?x=1"), method, body), headers)

    # Then the far end saw exactly one request with the method, path, headers and body
    assert result.failure_reason is None, result
    assert result.status == 200
    assert result.error_message is None
    (seen,) = harness.seen()
    assert seen.method == method
    assert seen.path.split("?")[0] == "/hook"
    assert seen.headers["x-custom-header"] == "value"
    assert seen.headers["x-chronohook-run-id"] == "rj_1:0:1"
    assert seen.body == body
    assert result.duration_ms >= 0


def test_a_500_is_a_server_error(harness: Harness) -> None:
    # Given an endpoint answering 500
    # When a request is sent
    result = send(harness, spec(harness.url("/status/500")))
    # Then the status is kept and the run is a server-error failure
    assert result.status == 500
    assert result.failure_reason == "http_server_error"
    assert result.error_message == "HTTP 500"


def test_a_404_is_a_client_error(harness: Harness) -> None:
    # Given an endpoint answering 404
    # When a request is sent
    result = send(harness, spec(harness.url("/status/404")))
    # Then the status is kept and the run is a client-error failure
    assert result.status == 404
    assert result.failure_reason == "http_client_error"
    assert result.error_message == "HTTP 404"


# -- the real sender only ------------------------------------------------------------------------------------------
def _real(receiver: Receiver) -> Harness:
    return Harness("aiohttp", AiohttpSender, receiver.url, receiver.seen)


def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    # Given an endpoint answering 302 to another path
    # When a request is sent
    result = send(_real(receiver), spec(receiver.url("/redirect")))

    # Then the 302 itself is the answer, it counts as a failure, and the target was never requested
    assert result.status == 302
    assert result.failure_reason is not None
    assert [s.path for s in receiver.seen()] == ["/redirect"]


def test_a_cookie_one_endpoint_sets_never_rides_along_on_the_next_job(receiver: Receiver) -> None:
    # Given one sender (as the executor keeps one for every tenant's jobs) and an endpoint that sets a cookie
    # (by host name: aiohttp's default jar never sends cookies to a bare IP address, so 127.0.0.1 would hide it)
    host = f"http://localhost:{receiver.port}"

    async def scenario(sender: HttpSender) -> None:
        await sender.send(spec(f"{host}/set-cookie", method="GET"), {})
        # When another job is sent to the same host
        await sender.send(spec(f"{host}/other-tenant", method="GET"), {})

    _real(receiver).run(scenario)
    # Then the second request carries no cookie
    assert [s.path for s in receiver.seen()] == ["/set-cookie", "/other-tenant"]
    assert "cookie" not in receiver.seen()[1].headers


def test_a_slow_endpoint_times_out(receiver: Receiver) -> None:
    # Given an endpoint that does not answer before the request's timeout
    started = time.monotonic()

    # When a request with a 0.3 s timeout is sent
    result = send(_real(receiver), spec(receiver.url("/slow"), timeout=0.3))

    # Then the run failed with "timeout", without a status, and quickly
    assert result.failure_reason == "timeout", result
    assert result.status is None
    assert result.error_message
    assert time.monotonic() - started < 5


def _refused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_port_is_a_connection_error() -> None:
    # Given a port nothing listens on
    url = f"http://127.0.0.1:{_refused_port()}/hook"

    # When a request is sent there
    result = send(Harness("aiohttp", AiohttpSender, str, list), spec(url))

    # Then the run failed with "connection_error" and no status
    assert result.failure_reason == "connection_error", result
    assert result.status is None
    assert result.error_message


def test_a_large_response_is_truncated_at_the_limit(receiver: Receiver) -> None:
    # Given a sender that keeps at most 3 bytes of a response body
    harness = Harness("aiohttp", lambda: AiohttpSender(body_limit=3), receiver.url, receiver.seen)

    # When the endpoint answers "hello"
    result = send(harness, spec(receiver.url("/hook")))

    # Then the body is cut to the limit and flagged as truncated
    assert result.status == 200
    assert result.body == "hel"
    assert result.truncated


def test_the_fake_answers_a_negative_status_as_a_refused_connection() -> None:
    # Given the fake scripted to refuse a URL
    harness = Harness("in_memory", lambda: InMemorySender({"http://x.test/": -1}), str, list)
    # When a request is sent
    result = send(harness, spec("http://x.test/"))
    # Then it reports a connection error like the real sender would
    assert result.failure_reason == "connection_error"
    assert result.status is None
