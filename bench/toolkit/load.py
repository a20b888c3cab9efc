"""A load generator in its own process: raw HTTP/1.1 keep-alive POSTs, closed or open loop.

Raw protocols rather than a client library, so the generator costs as little CPU as Python allows and
the server under test gets the rest of the 2 cores; the ceiling runs are driven by the same code.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

from bench.toolkit.http1 import content_length

REQUEST_TIMEOUT_S = 15.0


@dataclass
class LoadResult:
    sent: int
    accepted: list[int]  # indexes of the bodies answered with the expected status
    statuses: dict[int, int]  # status -> count; -1 is a connection error or timeout
    seconds: float
    latencies_ns: list[int] = field(repr=False)
    first_error: str = ""

    @property
    def ok(self) -> int:
        return len(self.accepted)

    @property
    def per_second(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def percentile_ms(self, p: float) -> float:
        lat = sorted(self.latencies_ns)
        if not lat:
            return math.nan
        return lat[max(1, math.ceil(p * len(lat))) - 1] / 1e6


class RawConnection(asyncio.Protocol):
    """One keep-alive socket: write a request, wait for one Content-Length-framed response (status, body)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        head_end = buf.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = bytes(buf[:head_end]).lower()
        total = head_end + 4 + content_length(head)
        if len(buf) < total:
            return
        body = bytes(buf[head_end + 4 : total])
        del buf[:total]
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((int(head[9:12]), body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc or ConnectionResetError("closed by the server"))

    async def request(self, payload: bytes) -> tuple[int, bytes]:
        if self.transport is None:
            raise ConnectionResetError("not connected")
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            return await self._waiter


async def _drive(
    url: str,
    bodies: list[bytes],
    headers: dict[str, str],
    concurrency: int,
    max_seconds: float,
    expect: int,
    rate: float | None,
    retry: bool,
) -> LoadResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    prefix = f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n{extra}"
    loop = asyncio.get_running_loop()
    statuses: dict[int, int] = {}
    accepted: list[int] = []
    latencies: list[int] = []
    first_error = ""
    next_index = 0
    started = time.perf_counter()
    deadline = started + max_seconds

    async def connect() -> RawConnection | None:
        try:
            _, proto = await loop.create_connection(RawConnection, host, port)
        except OSError:
            return None
        return proto

    async def worker() -> None:
        nonlocal next_index, first_error
        conn = await connect()
        while next_index < len(bodies) and time.perf_counter() < deadline:
            index = next_index
            next_index += 1
            if rate is not None:
                wait = started + index / rate - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
            payload = (prefix + f"Content-Length: {len(bodies[index])}\r\n\r\n").encode() + bodies[index]
            while time.perf_counter() < deadline:
                if conn is None or conn.transport is None:
                    conn = await connect()
                t0 = time.perf_counter_ns()
                try:
                    if conn is None:
                        raise ConnectionRefusedError("cannot connect")
                    status, body = await conn.request(payload)
                except (OSError, TimeoutError) as exc:
                    status, body = -1, repr(exc).encode()
                    if conn is not None and conn.transport is not None:
                        conn.transport.close()
                    conn = None
                statuses[status] = statuses.get(status, 0) + 1
                if status == expect:
                    latencies.append(time.perf_counter_ns() - t0)
                    accepted.append(index)
                    break
                if not first_error:
                    first_error = f"{status}: {body[:300].decode(errors='replace')}"
                if not retry or status not in (-1, 502, 503, 504):
                    break
                await asyncio.sleep(0.05)  # the service is restarting: try the same job again
        if conn is not None and conn.transport is not None:
            conn.transport.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LoadResult(
        sent=next_index,
        accepted=accepted,
        statuses=statuses,
        seconds=time.perf_counter() - started,
        latencies_ns=latencies,
        first_error=first_error,
    )


def _run(
    url: str,
    bodies: list[bytes],
    headers: dict[str, str],
    concurrency: int,
    max_seconds: float,
    expect: int,
    rate: float | None,
    retry: bool,
) -> LoadResult:
    import uvloop

    return uvloop.run(_drive(url, bodies, headers, concurrency, max_seconds, expect, rate, retry))


class LoadGenerator:
    """One worker process that sends loads; reuse it across runs of a bench."""

    def __init__(self) -> None:
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))

    def start(
        self,
        url: str,
        bodies: list[bytes],
        *,
        headers: dict[str, str] | None = None,
        concurrency: int = 32,
        max_seconds: float = 60.0,
        expect: int = 201,
        rate: float | None = None,
        retry: bool = False,
    ) -> Future[LoadResult]:
        """Send every body once (or until ``max_seconds``); ``rate`` paces an open loop; ``retry`` resends
        a body the server could not take (connection refused, 503) until it is accepted."""
        return self._pool.submit(_run, url, bodies, headers or {}, concurrency, max_seconds, expect, rate, retry)

    def run(self, url: str, bodies: list[bytes], **kwargs: object) -> LoadResult:
        return self.start(url, bodies, **kwargs).result()  # type: ignore[arg-type]

    def pid(self) -> int:
        """The worker process's pid (it starts with the first load, so one is sent first if none was)."""
        processes = getattr(self._pool, "_processes", None) or {}
        if not processes:
            self.run("http://127.0.0.1:9/", [], concurrency=1, max_seconds=1)
            processes = getattr(self._pool, "_processes", None) or {}
        return int(next(iter(processes)))

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)

    def __enter__(self) -> LoadGenerator:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
