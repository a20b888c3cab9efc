"""Measure async HTTP clients for the executor against a local keep-alive receiver.

Run::

    python -m bench.http_clients            # table
    python -m bench.http_clients --json     # machine-readable
    python -m bench.http_clients --help     # options (request count, time cap, concurrency, loops)

Needs ``aiohttp`` and ``httpx``; ``uvloop`` is optional (its rows are skipped without it).

A minimal HTTP/1.1 receiver (a raw ``asyncio.Protocol``) runs in a separate process, listening on
127.0.0.1 on a free port, and answers every request with a small ``200 OK``. With two or more CPUs the
receiver is pinned to one CPU and the measuring process to another (``--no-pin`` turns this off).

For each event loop and each concurrency, every client sends the same small JSON POSTs with that many
requests in flight over keep-alive connections, up to ``--requests`` requests or ``--max-seconds``
seconds, whichever comes first, after a short uncounted warm-up; all rows are run ``--rounds`` times
(interleaved) and the medians are reported, with the req/s spread. Clients:

* ``ceiling``: a hand-written HTTP/1.1 client on raw asyncio protocols, one keep-alive socket per
  worker: what this machine, loop and receiver allow, measured in the same run;
* ``aiohttp``: ``aiohttp.ClientSession`` with ``TCPConnector(limit=concurrency)``;
* ``httpx``: ``httpx.AsyncClient`` with ``max_connections=max_keepalive_connections=concurrency``;
* ``httpx+aiohttp``: ``httpx.AsyncClient`` over a small transport (below) that sends with aiohttp.

Each row reports req/s, p50/p99 latency and median req/s as a fraction of the median ceiling of the
same loop and concurrency. Everything is bounded: per case by count and time, per request by a timeout, and
the receiver stops on its own when the measuring process goes away or after a hard lifetime.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import importlib.util
import json
import math
import multiprocessing
import os
import platform
import socket
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import Any, Protocol, cast

import aiohttp
import httpx

from bench.toolkit.http1 import content_length
from bench.toolkit.load import RawConnection

HOST = "127.0.0.1"
PATH = "/hooks/deliver"
REQUEST_TIMEOUT_S = 10.0
MAX_HEAD_BYTES = 65_536

# A typical small job delivery: a few hundred bytes of JSON, serialised once (as the executor does).
BODY = json.dumps(
    {
        "job_id": "01JD7Q5R3S9X2M4N6P8T0V1W3Y",
        "tenant": "bench",
        "attempt": 1,
        "scheduled_for": "2026-11-23T12:00:00Z",
        "payload": {"event": "invoice.due", "invoice_id": 4242, "amount_cents": 129_900, "currency": "EUR"},
    },
    separators=(",", ":"),
).encode()
HEADERS = {"Content-Type": "application/json"}

RESPONSE_BODY = b'{"ok":true}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(RESPONSE_BODY)).encode()
    + b"\r\n\r\n"
    + RESPONSE_BODY
)


def _error_response(status: bytes) -> bytes:
    return b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


# --------------------------------------------------------------------------- receiver (own process)


class _Receiver(asyncio.Protocol):
    """HTTP/1.1 keep-alive receiver: frames requests by Content-Length; answers each one in order."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        buf = self._buf
        buf += data
        out: list[bytes] = []
        close = False
        while True:  # every complete request in the buffer (pipelined or not), in order
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                if len(buf) > MAX_HEAD_BYTES:
                    out.append(_error_response(b"431 Request Header Fields Too Large"))
                    close = True
                break
            head = bytes(buf[:head_end]).lower()
            if b"\r\ntransfer-encoding:" in head:  # the clients measured here never send chunked bodies
                out.append(_error_response(b"411 Length Required"))
                close = True
                break
            try:
                length = content_length(head)
            except ValueError:
                out.append(_error_response(b"400 Bad Request"))
                close = True
                break
            total = head_end + 4 + length
            if len(buf) < total:
                break  # the body is still arriving
            del buf[:total]
            out.append(RESPONSE)
            if b"\r\nconnection: close" in head or head.split(b"\r\n", 1)[0].endswith(b"http/1.0"):
                close = True
                break
        if out:
            transport.write(b"".join(out))
        if close:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002
        self._transport = None


def _serve(conn: Connection, cpu: int | None, use_uvloop: bool, lifetime_s: float) -> None:
    """Receiver process: bind a free port on 127.0.0.1, send it back, serve until told or orphaned."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    with contextlib.suppress(ImportError):
        if use_uvloop:
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    async def main() -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, 0))
        server = await loop.create_server(_Receiver, sock=sock, backlog=1024)
        stop = asyncio.Event()
        # Any message, or EOF when the parent goes away, on the pipe stops the receiver.
        loop.add_reader(conn.fileno(), stop.set)
        conn.send(sock.getsockname()[1])
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(lifetime_s):
                await stop.wait()
        loop.remove_reader(conn.fileno())
        server.close()

    asyncio.run(main())


# --------------------------------------------------------------------------- clients


class Client(Protocol):
    async def open(self, url: str, concurrency: int) -> None: ...

    async def post(self, worker: int) -> int:
        """Send one request on behalf of worker ``worker``, read the whole response, return the status."""
        ...

    async def close(self) -> None: ...


class RawClient:
    """The ceiling: minimal hand-written HTTP/1.1, one socket per worker, nothing else."""

    def __init__(self) -> None:
        self._conns: list[RawConnection] = []
        self._payload = b""

    async def open(self, url: str, concurrency: int) -> None:
        parsed = httpx.URL(url)
        host, port = parsed.host, parsed.port
        assert port is not None
        self._payload = (
            f"POST {parsed.raw_path.decode()} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n"
        ).encode() + BODY
        loop = asyncio.get_running_loop()
        for _ in range(concurrency):
            _, proto = await loop.create_connection(RawConnection, host, port)
            self._conns.append(proto)

    async def post(self, worker: int) -> int:
        status, _body = await self._conns[worker].request(self._payload)
        return status

    async def close(self) -> None:
        for conn in self._conns:
            if conn.transport is not None:
                conn.transport.close()
        self._conns.clear()
        await asyncio.sleep(0)


class AiohttpClient:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._url = ""

    async def open(self, url: str, concurrency: int) -> None:
        self._url = url
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
        )

    async def post(self, worker: int) -> int:  # noqa: ARG002  (one shared session)
        assert self._session is not None
        async with self._session.post(self._url, data=BODY, headers=HEADERS, allow_redirects=False) as resp:
            await resp.read()
            return resp.status

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class HttpxClient:
    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None
        self._url = ""

    def _transport(self, concurrency: int) -> httpx.AsyncBaseTransport | None:  # noqa: ARG002
        return None  # httpx's own (httpcore) transport

    async def open(self, url: str, concurrency: int) -> None:
        self._url = url
        self._client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            timeout=httpx.Timeout(REQUEST_TIMEOUT_S),
            transport=self._transport(concurrency),
        )

    async def post(self, worker: int) -> int:  # noqa: ARG002  (one shared client)
        assert self._client is not None
        resp = await self._client.post(self._url, content=BODY, headers=HEADERS)
        return resp.status_code  # the body is read by post() (not streamed)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Minimal httpx transport that sends with an aiohttp session (bodies are read whole)."""

    _SKIP = frozenset({"host", "content-length", "transfer-encoding", "connection"})

    def __init__(self, concurrency: int) -> None:
        self._concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:  # created lazily: needs the running loop
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._concurrency),
                auto_decompress=False,  # httpx decodes Content-Encoding itself
            )
        timeouts = [t for t in request.extensions.get("timeout", {}).values() if t is not None]
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in self._SKIP]
        async with self._session.request(
            request.method,
            str(request.url),
            data=await request.aread(),
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=max(timeouts, default=None)),
        ) as resp:
            content = await resp.read()
            return httpx.Response(resp.status, headers=list(resp.raw_headers), content=content)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class HttpxAiohttpClient(HttpxClient):
    def _transport(self, concurrency: int) -> httpx.AsyncBaseTransport | None:
        return AiohttpTransport(concurrency)


CLIENTS: dict[str, Callable[[], Client]] = {
    "ceiling": RawClient,
    "aiohttp": AiohttpClient,
    "httpx": HttpxClient,
    "httpx+aiohttp": HttpxAiohttpClient,
}


# --------------------------------------------------------------------------- measurement


@dataclass
class Row:
    loop: str
    concurrency: int
    client: str
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    rounds: int = 1
    rps_min: float = 0.0
    rps_max: float = 0.0
    ratio_to_ceiling: float | None = None


def _combine(rounds: Sequence[Row]) -> Row:
    """One row from the same case's rounds: medians, summed counts, and the req/s spread."""
    first = rounds[0]
    rps = [r.rps for r in rounds]
    return Row(
        loop=first.loop,
        concurrency=first.concurrency,
        client=first.client,
        requests=sum(r.requests for r in rounds),
        errors=sum(r.errors for r in rounds),
        seconds=round(sum(r.seconds for r in rounds), 3),
        rps=round(statistics.median(rps), 1),
        p50_ms=round(statistics.median(r.p50_ms for r in rounds), 3),
        p99_ms=round(statistics.median(r.p99_ms for r in rounds), 3),
        rounds=len(rounds),
        rps_min=min(rps),
        rps_max=max(rps),
    )


def _percentile_ms(sorted_ns: Sequence[int], p: float) -> float:
    if not sorted_ns:
        return math.nan
    rank = max(1, math.ceil(p * len(sorted_ns)))  # nearest-rank
    return sorted_ns[rank - 1] / 1e6


async def _measure(
    name: str, url: str, concurrency: int, requests: int, max_seconds: float, warmup: int
) -> tuple[int, int, float, list[int]]:
    client = CLIENTS[name]()
    await client.open(url, concurrency)
    latencies: list[int] = []
    errors = 0
    remaining = 0
    deadline = 0.0

    async def worker(index: int, record: bool) -> None:
        nonlocal remaining, errors
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            start = time.perf_counter_ns()
            try:
                status = await client.post(index)
            except (OSError, TimeoutError, aiohttp.ClientError, httpx.HTTPError):
                status = -1
            if not record:
                continue
            if status == 200:
                latencies.append(time.perf_counter_ns() - start)
            else:
                errors += 1

    try:
        remaining, deadline = warmup, time.perf_counter() + max_seconds  # opens the connections
        await asyncio.gather(*(worker(i, False) for i in range(concurrency)))
        remaining = requests
        started = time.perf_counter()
        deadline = started + max_seconds
        await asyncio.gather(*(worker(i, True) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await client.close()
    return len(latencies), errors, elapsed, sorted(latencies)


def _loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def run_case(loop: str, name: str, url: str, concurrency: int, args: argparse.Namespace) -> Row:
    with asyncio.Runner(loop_factory=_loop_factory(loop)) as runner:
        ok, errors, elapsed, lat = runner.run(
            _measure(name, url, concurrency, args.requests, args.max_seconds, args.warmup or 4 * concurrency)
        )
    return Row(
        loop=loop,
        concurrency=concurrency,
        client=name,
        requests=ok,
        errors=errors,
        seconds=round(elapsed, 3),
        rps=round(ok / elapsed, 1) if elapsed > 0 else 0.0,
        p50_ms=round(_percentile_ms(lat, 0.50), 3),
        p99_ms=round(_percentile_ms(lat, 0.99), 3),
        rps_min=round(ok / elapsed, 1) if elapsed > 0 else 0.0,
        rps_max=round(ok / elapsed, 1) if elapsed > 0 else 0.0,
    )


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("aiohttp", "httpx", "httpcore", "uvloop"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[dist] = importlib.metadata.version(dist)
    return out


def _print_table(rows: Sequence[Row], meta: dict[str, Any]) -> None:
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    print(f"# {versions}; cpus {meta['cpus']}; pinned {meta['pinned']}")
    print(
        f"# {meta['rounds']} round(s) of up to {meta['requests']} requests or {meta['max_seconds']} s per row, "
        f"medians shown; body {len(BODY)} bytes; receiver: {meta['receiver']}"
    )
    header = (
        f"{'loop':<8} {'conc':>4}  {'client':<14} {'ok':>6} {'err':>4} {'req/s':>9} "
        f"{'min-max req/s':>15} {'p50 ms':>8} {'p99 ms':>8} {'vs ceiling':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        ratio = "" if r.ratio_to_ceiling is None else f"{r.ratio_to_ceiling:.2f}"
        spread = f"{r.rps_min:.0f}-{r.rps_max:.0f}"
        print(
            f"{r.loop:<8} {r.concurrency:>4}  {r.client:<14} {r.requests:>6} {r.errors:>4} {r.rps:>9.0f} "
            f"{spread:>15} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {ratio:>10}"
        )


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    have_uvloop = importlib.util.find_spec("uvloop") is not None
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--requests", type=int, default=3000, help="counted requests per row (default 3000)")
    p.add_argument("--max-seconds", type=float, default=10.0, help="time cap per row (default 10)")
    p.add_argument(
        "--rounds", type=int, default=3, help="rounds over all rows, interleaved; medians reported (default 3)"
    )
    p.add_argument("--warmup", type=int, default=0, help="uncounted requests first (default 4 x concurrency)")
    p.add_argument("--concurrency", type=int, nargs="+", default=[8, 64], help="default: 8 64")
    p.add_argument("--clients", nargs="+", choices=list(CLIENTS), default=list(CLIENTS))
    p.add_argument(
        "--loops",
        nargs="+",
        choices=["asyncio", "uvloop"],
        default=["asyncio", "uvloop"] if have_uvloop else ["asyncio"],
    )
    p.add_argument("--no-pin", action="store_true", help="do not pin receiver and clients to separate CPUs")
    args = p.parse_args(argv)
    if not 1 <= args.requests <= 1_000_000 or not 0 < args.max_seconds <= 120:
        p.error("--requests must be in 1..1000000 and --max-seconds in (0, 120]")
    if not 1 <= args.rounds <= 20:
        p.error("--rounds must be in 1..20")
    if any(not 1 <= c <= 1024 for c in args.concurrency):
        p.error("--concurrency values must be in 1..1024")
    if "uvloop" in args.loops and not have_uvloop:
        p.error("uvloop is not installed")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pin = not args.no_pin and len(cpus) >= 2
    have_uvloop = importlib.util.find_spec("uvloop") is not None  # the receiver uses it when it can
    cases = [(lp, c, n) for lp in args.loops for c in args.concurrency for n in args.clients]
    lifetime = args.rounds * len(cases) * (2 * args.max_seconds + 2 * REQUEST_TIMEOUT_S) + 60

    ctx = multiprocessing.get_context("spawn")
    parent_end, child_end = ctx.Pipe()
    server = ctx.Process(
        target=_serve,
        args=(child_end, cpus[-1] if pin else None, have_uvloop, lifetime),
        daemon=True,
    )
    server.start()
    child_end.close()
    by_case: dict[tuple[str, int, str], list[Row]] = {case: [] for case in cases}
    try:
        if not parent_end.poll(30):
            raise RuntimeError("receiver did not start")
        port = parent_end.recv()
        if pin:
            os.sched_setaffinity(0, {cpus[0]})
        url = f"http://{HOST}:{port}{PATH}"
        for round_no in range(1, args.rounds + 1):  # rounds interleave, so a noisy moment hits one round
            for case in cases:
                loop, concurrency, name = case
                row = run_case(loop, name, url, concurrency, args)
                by_case[case].append(row)
                if not args.json:
                    print(f"  round {round_no}: {loop} c={concurrency} {name}: {row.rps:.0f} req/s", file=sys.stderr)
    finally:
        with contextlib.suppress(OSError):
            parent_end.send("stop")
        server.join(10)
        if server.is_alive():
            server.terminate()
            server.join(5)

    rows = [_combine(by_case[case]) for case in cases]
    ceilings = {(r.loop, r.concurrency): r.rps for r in rows if r.client == "ceiling"}
    for r in rows:
        ceiling = ceilings.get((r.loop, r.concurrency))
        if ceiling:
            r.ratio_to_ceiling = round(r.rps / ceiling, 3)
    meta: dict[str, Any] = {
        "versions": _versions(),
        "platform": platform.platform(),
        "cpus": len(cpus) or os.cpu_count(),
        "pinned": pin,
        "rounds": args.rounds,
        "requests": args.requests,
        "max_seconds": args.max_seconds,
        "body_bytes": len(BODY),
        "receiver": f"raw asyncio.Protocol, own process, {'uvloop' if have_uvloop else 'asyncio'} loop",
    }
    if failed := [r for r in rows if r.errors or not r.requests]:
        # A client that erred or timed out would be timed on its errors: no figure rather than a wrong one.
        for r in failed:
            print(
                f"bench failed, no figure printed: {r.loop} c={r.concurrency} {r.client}: "
                f"{r.errors} errors, {r.requests} requests answered 200",
                file=sys.stderr,
            )
        return 2
    if args.json:
        print(json.dumps({"meta": meta, "results": [asdict(r) for r in rows]}, indent=2))
    else:
        _print_table(rows, meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
