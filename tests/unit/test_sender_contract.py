"""One contract for every HttpSender: the real aiohttp one (against a local receiver) and the in-memory fake."""

from __future__ import annotations

import asyncio
import asyncio.selector_events
import json
import socket
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from ipaddress import ip_address
from typing import TypeVar

import aiohttp
import pytest
from aiohttp import web

from chronohook.outbound.egress import EgressPolicy
from chronohook.outbound.guard import guarded_socket
from chronohook.outbound.resolver import ResolveError, Resolver, StaticResolver, SystemResolver
from chronohook.outbound.sender import (
    MAX_ERROR_MESSAGE_BYTES,
    MAX_RESPONSE_HEADER_BYTES,
    MAX_RESPONSE_HEADERS,
    AiohttpSender,
    HttpSender,
    InMemorySender,
    SendResult,
    classify_exception,
)
from schemas.events import HttpRequestSpec

T = TypeVar("T")

# The test receivers listen on loopback, which the egress guard refuses unless allowed.
LOOPBACK = EgressPolicy.from_setting("127.0.0.1/32,::1/128")


def real_sender(body_limit: int = 16_384) -> AiohttpSender:
    return AiohttpSender(policy=LOOPBACK, body_limit=body_limit)


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
        yield Harness("aiohttp", real_sender, r.url, r.seen)
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
    return Harness("aiohttp", real_sender, receiver.url, receiver.seen)


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
    result = send(Harness("aiohttp", real_sender, str, list), spec(url))

    # Then the run failed with "connection_error" and no status
    assert result.failure_reason == "connection_error", result
    assert result.status is None
    assert result.error_message


def test_a_large_response_is_truncated_at_the_limit(receiver: Receiver) -> None:
    # Given a sender that keeps at most 3 bytes of a response body
    harness = Harness("aiohttp", lambda: real_sender(body_limit=3), receiver.url, receiver.seen)

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


# -- answers that must not break the executor (a scripted raw-socket server on 127.0.0.1) -------------------------
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """An asyncio TCP server on 127.0.0.1 in its own thread that answers every connection with a script.

    Counts accepted connections and the bytes the script managed to write (a 50 MB answer stops early when the
    client drops the connection).
    """

    def __init__(self, script: Script) -> None:
        self.script = script
        self.accepted = 0
        self.bytes_written = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="raw-server")
        self._server: asyncio.Server | None = None
        self._release: asyncio.Event | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.port = 0

    def __enter__(self) -> RawServer:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    def url(self, path: str = "/", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    async def released(self) -> None:
        """For scripts that hold a connection open until the server closes."""
        assert self._release is not None
        await self._release.wait()

    async def _start(self) -> int:
        self._release = asyncio.Event()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=1024)
        return int(self._server.sockets[0].getsockname()[1])

    async def _stop(self) -> None:
        assert self._server is not None and self._release is not None
        self._release.set()
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await reader.readuntil(b"\r\n\r\n")
            await self.script(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()

    async def write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        await writer.drain()
        self.bytes_written += len(data)


def _send_real(url: str, timeout: float = 5.0, body_limit: int = 16_384) -> SendResult:
    return send(Harness("aiohttp", lambda: real_sender(body_limit), str, list), spec(url, timeout=timeout))


def _storable(result: SendResult) -> None:
    """What the executor puts in the result event encodes as UTF-8 JSON and holds no NUL."""
    encoded = json.dumps(
        {"headers": result.headers, "body": result.body, "error": result.error_message}, ensure_ascii=False
    ).encode("utf-8")
    assert b"\\u0000" not in encoded


def test_a_non_utf8_header_byte_becomes_valid_text() -> None:
    # Given a target whose answer has a \xff byte in a header value and a NUL in its body
    async def script(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nX-Bad: a\xffb\r\nX-Utf8: caf\xc3\xa9\r\nContent-Length: 4\r\n\r\nok\x00!")
        await writer.drain()

    with RawServer(script) as server:
        # When a request is sent
        result = _send_real(server.url())

    # Then the run is recorded: the byte is U+FFFD, valid UTF-8 is kept, and all of it is storable
    assert result.status == 200, result
    assert result.headers["X-Bad"] == "a\ufffdb"
    assert result.headers["X-Utf8"] == "café"
    assert result.body == "ok\ufffd!"
    _storable(result)


def test_thousands_of_headers_end_as_a_failed_run() -> None:
    # Given a target answering with 2,000 headers
    async def script(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers = b"".join(b"X-H%d: v\r\n" % i for i in range(2_000))
        writer.write(b"HTTP/1.1 200 OK\r\n" + headers + b"Content-Length: 0\r\n\r\n")
        await writer.drain()

    with RawServer(script) as server:
        # When a request is sent
        result = _send_real(server.url())

    # Then aiohttp's parser limit refused it and the run failed with a reason and a capped, valid message
    assert result.failure_reason == "connection_error", result
    assert result.status is None
    assert result.error_message
    assert len(result.error_message.encode()) <= MAX_ERROR_MESSAGE_BYTES
    _storable(result)


def test_many_headers_within_the_parser_limit_are_capped_when_stored() -> None:
    # Given a target answering with 120 headers of 200 bytes each (24 KB in all)
    async def script(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 200) for i in range(120))
        writer.write(b"HTTP/1.1 200 OK\r\n" + headers + b"Content-Length: 0\r\n\r\n")
        await writer.drain()

    with RawServer(script) as server:
        # When a request is sent
        result = _send_real(server.url())

    # Then the run succeeded and kept at most the documented number and bytes of headers
    assert result.status == 200, result
    assert 0 < len(result.headers) <= MAX_RESPONSE_HEADERS
    assert sum(len(k.encode()) + len(v.encode()) for k, v in result.headers.items()) <= MAX_RESPONSE_HEADER_BYTES


def test_a_50_mb_body_is_truncated_and_the_connection_dropped() -> None:
    # Given a target streaming a 50 MB body in 64 KiB chunks
    total = 50 * 1024 * 1024
    chunk = b"x" * 65_536

    async def script(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.write(writer, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % total)
        for _ in range(total // len(chunk)):
            await server.write(writer, chunk)

    started = time.monotonic()
    with RawServer(script) as server:
        # When a request is sent with the default 16 KiB body limit
        result = _send_real(server.url(), timeout=30)
        elapsed = time.monotonic() - started
        written = server.bytes_written

    # Then the body is cut at the limit and flagged, quickly, and the target could not push the whole 50 MB
    assert result.status == 200, result
    assert result.truncated
    assert result.body == "x" * 16_384
    assert elapsed < 10
    assert written < total


@pytest.mark.parametrize(("size", "truncated"), [(16_383, False), (16_384, False), (16_385, True)])
def test_the_truncated_flag_is_exact_at_the_limit(size: int, truncated: bool) -> None:
    # Given a body of a size around the limit, sent in small pieces (so one read returns less than asked)
    async def script(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.write(writer, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for start in range(0, size, 1_000):
            await server.write(writer, b"y" * min(1_000, size - start))

    with RawServer(script) as server:
        # When a request is sent
        result = _send_real(server.url())

    # Then the flag is set exactly when the body was longer than the limit
    assert result.status == 200, result
    assert result.truncated is truncated
    assert result.body == "y" * min(size, 16_384)


def test_a_trickling_target_ends_at_the_timeout() -> None:
    # Given a target that sends its headers, then one byte of a 1 MB body every 50 ms
    async def script(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.write(writer, b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
        for _ in range(200):  # bounded: 10 s at most
            await server.write(writer, b"z")
            await asyncio.sleep(0.05)

    started = time.monotonic()
    with RawServer(script) as server:
        # When a request with a 0.5 s timeout is sent
        result = _send_real(server.url(), timeout=0.5)
        elapsed = time.monotonic() - started

    # Then the run failed as a timeout, about when it was due to
    assert result.failure_reason == "timeout", result
    assert elapsed < 5


def test_a_stalled_body_ends_at_the_timeout() -> None:
    # Given a target that promises a body and sends none of it until it closes
    async def script(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.write(writer, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
        await server.released()

    with RawServer(script) as server:
        # When a request with a 0.3 s timeout is sent
        result = _send_real(server.url(), timeout=0.3)

    # Then the run failed as a timeout
    assert result.failure_reason == "timeout", result


@pytest.mark.parametrize(
    "answer",
    [
        b"HELLO WORLD\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\n",
        b"\x00\xff" * 50,
    ],
)
def test_invalid_http_ends_as_a_failed_run(answer: bytes) -> None:
    # Given a target answering with something that is not HTTP
    async def script(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(answer)
        await writer.drain()

    with RawServer(script) as server:
        # When a request is sent
        result = _send_real(server.url())

    # Then the run failed with a reason and a storable message
    assert result.failure_reason is not None, result
    assert result.status is None
    assert result.error_message
    _storable(result)


def test_a_tls_handshake_against_a_plain_server_is_a_failed_run(receiver: Receiver) -> None:
    # Given a plain HTTP receiver
    # When a request is sent to it over https
    result = send(_real(receiver), spec(receiver.url("/hook").replace("http://", "https://")))

    # Then the run failed as a TLS error, not a crash
    assert result.failure_reason == "ssl_error", result
    assert result.error_message


def test_classify_exception_never_raises() -> None:
    # Given exceptions whose text cannot be built or is not valid text
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    # When / Then: each is classified, with a valid, capped message
    for exc in (Broken(), OSError("bad \udcff byte"), ValueError("x" * 100_000), RuntimeError("\x00")):
        reason, message = classify_exception(exc)
        assert reason
        message.encode("utf-8")
        assert len(message.encode()) <= MAX_ERROR_MESSAGE_BYTES
        assert "\x00" not in message


# -- the egress guard at connect time -------------------------------------------------------------------------------
class ConnectRecorder:
    """Records every socket connect the event loop makes, and refuses any that is not to loopback.

    The refusal is a safety net only: a test that sees an attempt has failed already, and no packet may leave
    for a non-loopback address even then.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.attempts: list[object] = []
        original = asyncio.selector_events.BaseSelectorEventLoop.sock_connect
        recorder = self

        async def sock_connect(loop: asyncio.AbstractEventLoop, sock: socket.socket, address: object) -> None:
            recorder.attempts.append(address)
            host = str(address[0]) if isinstance(address, tuple) else ""
            if host not in ("127.0.0.1", "::1"):
                raise OSError(f"test safety net: no connect to {address!r}")
            await original(loop, sock, address)  # type: ignore[arg-type]

        monkeypatch.setattr(asyncio.selector_events.BaseSelectorEventLoop, "sock_connect", sock_connect)


def _counting_server() -> RawServer:
    async def script(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    return RawServer(script)


@pytest.mark.parametrize(
    "answers",
    [
        ["10.0.0.1"],
        ["169.254.169.254"],
        ["::ffff:127.0.0.1"],
        ["fd00::1"],
        ["127.0.0.2", "10.0.0.1"],  # one refused address refuses the name, even beside an allowed one
    ],
)
def test_a_name_resolving_to_a_refused_address_is_refused_before_any_connect(
    answers: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a policy allowing only 127.0.0.2, a name the resolver stub answers with refused addresses, a listener
    # on 127.0.0.1 that counts accepts, and a loop that records (and would refuse) every connect
    policy = EgressPolicy.from_setting("127.0.0.2/32")
    connects = ConnectRecorder(monkeypatch)
    resolver = StaticResolver({"target.test": answers})

    with _counting_server() as server:
        # When a request to the name is sent
        result = send(
            Harness("aiohttp", lambda: AiohttpSender(policy=policy, resolver=resolver), str, list),
            spec(f"http://target.test:{server.port}/hook"),
        )
        accepted = server.accepted

    # Then the run failed naming the policy, the name was resolved, and nothing connected anywhere
    assert result.failure_reason == "connection_error", result
    assert result.error_message is not None and "egress policy" in result.error_message
    assert resolver.asked == [("target.test", server.port)]
    assert connects.attempts == []
    assert accepted == 0


def test_a_name_resolving_to_an_allowed_address_is_delivered(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a name the resolver stub answers with the allowed 127.0.0.1
    connects = ConnectRecorder(monkeypatch)
    resolver = StaticResolver({"target.test": ["127.0.0.1"]})

    with _counting_server() as server:
        # When a request is sent
        result = send(
            Harness("aiohttp", lambda: AiohttpSender(policy=LOOPBACK, resolver=resolver), str, list),
            spec(f"http://target.test:{server.port}/hook"),
        )
        accepted = server.accepted

    # Then it connected to exactly the checked address
    assert result.status == 200, result
    assert accepted == 1
    assert [a[0] for a in connects.attempts if isinstance(a, tuple)] == ["127.0.0.1"]


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "2130706433", "0x7f.1", "127.1", "[::ffff:127.0.0.1]", "localhost", "①②⑦.0.0.1"]
)
def test_a_refused_literal_never_connects(host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a policy that allows only 127.0.0.2, and a listener on 127.0.0.1
    connects = ConnectRecorder(monkeypatch)
    policy = EgressPolicy.from_setting("127.0.0.2/32")

    with _counting_server() as server:
        # When a request to a spelling of 127.0.0.1 is sent
        result = send(
            Harness("aiohttp", lambda: AiohttpSender(policy=policy), str, list),
            spec(f"http://{host}:{server.port}/"),
        )
        accepted = server.accepted

    # Then the run failed naming the policy and no connection was attempted
    assert result.failure_reason == "connection_error", result
    assert result.error_message is not None and "egress policy" in result.error_message
    assert connects.attempts == []
    assert accepted == 0


def test_the_socket_factory_refuses_what_the_resolver_did_not_see() -> None:
    # Given the guard's socket factory for a policy allowing only 127.0.0.2
    factory = guarded_socket(EgressPolicy.from_setting("127.0.0.2/32"))

    # When asked for sockets to refused addresses / Then it refuses without creating one
    for sockaddr, family in ((("127.0.0.1", 80), socket.AF_INET), (("::1", 80, 0, 0), socket.AF_INET6)):
        with pytest.raises(OSError, match="egress policy"):
            factory((family, socket.SOCK_STREAM, 0, "", sockaddr))
    # And an allowed address gets a socket
    factory((socket.AF_INET, socket.SOCK_STREAM, 0, "", ("127.0.0.2", 80))).close()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://127.0.0.1/", "invalid_url"),
        ("file:///etc/passwd", "invalid_url"),
        ("http://10.0.0.1/", "connection_error"),
    ],
)
def test_refused_before_connect_by_both_senders(url: str, reason: str) -> None:
    # Given the real sender and the fake with the same policy
    for factory in (lambda: AiohttpSender(policy=LOOPBACK), lambda: InMemorySender(policy=LOOPBACK)):
        # When a request is sent / Then it is refused with the same reason, naming the policy
        result = send(Harness("x", factory, str, list), spec(url))
        assert result.failure_reason == reason, result
        assert result.error_message is not None and "egress policy" in result.error_message


@pytest.mark.parametrize(
    "headers", [{"Host": "internal"}, {"Content-Length": "1"}, {"Transfer-Encoding": "chunked"}, {"X-A": "a\r\nb"}]
)
def test_a_refused_header_is_a_failed_run_without_a_connect(
    headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a request whose own headers break the header policy (ingest refuses them too, with a 422)
    connects = ConnectRecorder(monkeypatch)
    request = HttpRequestSpec(method="POST", url="http://127.0.0.1:9/", headers=headers, timeout_seconds=5)

    # When it is sent
    result = send(Harness("aiohttp", lambda: AiohttpSender(policy=LOOPBACK), str, list), request, headers)

    # Then it failed naming the header policy, and nothing connected
    assert result.failure_reason == "unknown", result
    assert result.error_message is not None and "header policy" in result.error_message
    assert connects.attempts == []


# -- the resolver port: one contract, the table and the OS --------------------------------------------------------
@pytest.fixture(params=["static", "system"])
def resolver_under_test(request: pytest.FixtureRequest) -> Resolver:
    if request.param == "static":
        return StaticResolver({"localhost": ["127.0.0.1", "::1"]})
    return SystemResolver()


def test_localhost_resolves_to_loopback_only(resolver_under_test: Resolver) -> None:
    # Given / When
    addresses = asyncio.run(resolver_under_test.resolve("localhost", 80))
    # Then every address is loopback, without duplicates
    assert addresses
    assert all(address.is_loopback for address in addresses)
    assert len(addresses) == len(set(addresses))


def test_a_literal_resolves_to_itself(resolver_under_test: Resolver) -> None:
    if isinstance(resolver_under_test, StaticResolver):
        resolver_under_test = StaticResolver({"127.0.0.1": ["127.0.0.1"]})
    assert asyncio.run(resolver_under_test.resolve("127.0.0.1", 80)) == [ip_address("127.0.0.1")]


def test_the_static_resolver_fails_an_unknown_name() -> None:
    with pytest.raises(ResolveError):
        asyncio.run(StaticResolver({}).resolve("nowhere.test", 80))


def test_a_compressed_bomb_is_cut_at_the_limit_without_inflating_it() -> None:
    # Given a target answering with 64 MiB of zeros gzip-compressed to about 64 KB
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    megabyte = b"\0" * (1 << 20)
    payload = b"".join(compressor.compress(megabyte) for _ in range(64)) + compressor.flush()

    async def script(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(payload)
        await server.write(writer, head + payload)

    with RawServer(script) as server:
        # When a request is sent
        result = _send_real(server.url())

    # Then the body is capped (NUL shown as U+FFFD, within 16 KiB of UTF-8) and flagged as truncated
    assert result.status == 200, result
    assert result.truncated
    assert result.body is not None and set(result.body) == {"\ufffd"}
    assert len(result.body.encode()) <= 16_384


def test_aiohttp_reports_a_socket_factory_refusal_naming_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a bare aiohttp session whose only guard is the socket factory (the resolver and URL checks bypassed)
    connects = ConnectRecorder(monkeypatch)
    policy = EgressPolicy.from_setting("127.0.0.2/32")

    async def scenario() -> tuple[str, str]:
        connector = aiohttp.TCPConnector(socket_factory=guarded_socket(policy))
        async with aiohttp.ClientSession(connector=connector) as session:
            try:
                await session.get("http://127.0.0.1:9/")
            except aiohttp.ClientError as exc:
                return classify_exception(exc)
        raise AssertionError("the request was sent")

    # When a request to a refused literal is made
    reason, message = asyncio.run(scenario())

    # Then no socket connected, and the failure names the policy
    assert connects.attempts == []
    assert reason == "connection_error"
    assert "egress policy" in message


def test_proxies_from_the_environment_do_not_apply(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given HTTP_PROXY and HTTPS_PROXY pointing at a listener that counts connections
    with _counting_server() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        monkeypatch.setenv("HTTPS_PROXY", proxy.url())
        monkeypatch.setenv("ALL_PROXY", proxy.url())

        # When a request is sent
        result = send(_real(receiver), spec(receiver.url("/direct")))
        accepted = proxy.accepted

    # Then it went straight to the target
    assert result.status == 200, result
    assert accepted == 0
    assert [s.path for s in receiver.seen()] == ["/direct"]
