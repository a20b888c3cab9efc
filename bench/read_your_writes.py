"""Read-your-writes: what it costs a read and a write, and whether a list right after a create shows it (decision 0035).

``python -m bench.read_your_writes [--workers 4] [--reads 6000] [--writes 3000] [--pairs 200] [--out FILE]``

One stack (local broker, the four services, ``--workers`` ingest processes on one port), loopback only:

* **GET p50/p99**: ``GET /api/crons?per_page=15`` (a list of 15) and ``GET /api/crons/{id}``, closed loop on 16
  keep-alive connections, ``--reads`` each, with nothing being written (every read finds its tenant caught up: the
  steady cost of asking);
* **write p50/p99**: ``POST /api/jobs`` (a push an hour out), 16 connections, ``--writes`` (each raises its tenant's
  watermark before it answers);
* **pairs**: ``--pairs`` sequential create-then-list pairs (``POST /api/crons`` then ``GET /api/crons``), each
  request on a new connection (any process answers), half carrying the create's ``X-Chronohook-Position``: the
  list's latency, its misses (the new cron not in it) and its stale answers.

Run it on the code before the change too (``PYTHONPATH`` at that checkout): the script uses only what both have.
Every loop is bounded in count and in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.toolkit.expect import BenchError, guarded
from bench.toolkit.load import RawConnection
from bench.toolkit.stack import BenchStack, http_json

POSITION = "X-Chronohook-Position"
STALE = "X-Chronohook-Stale"
CONNECTIONS = 16
PHASE_MAX_S = 60.0
NEVER = "http://127.0.0.1:9/never"  # discard port: nothing is sent during the run


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p * len(ordered))) - 1] if ordered else math.nan


def _summary(latencies_ms: list[float], seconds: float, errors: int) -> dict[str, float]:
    return {
        "requests": len(latencies_ms),
        "per_second": round(len(latencies_ms) / seconds, 1) if seconds else 0.0,
        "p50_ms": round(_pct(latencies_ms, 0.50), 2),
        "p99_ms": round(_pct(latencies_ms, 0.99), 2),
        "errors": errors,
    }


async def _closed_loop(base: str, payloads: list[bytes], expect: int) -> dict[str, float]:
    """Each payload once over CONNECTIONS keep-alive connections (or until PHASE_MAX_S); latencies of ``expect``."""
    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors = 0
    next_index = 0
    started = time.perf_counter()

    async def worker() -> None:
        nonlocal next_index, errors
        _, conn = await loop.create_connection(RawConnection, host, port)
        while next_index < len(payloads) and time.perf_counter() - started < PHASE_MAX_S:
            payload = payloads[next_index]
            next_index += 1
            t0 = time.perf_counter()
            status, _ = await conn.request(payload)
            if status == expect:
                latencies.append((time.perf_counter() - t0) * 1000)
            else:
                errors += 1
        if conn.transport is not None:
            conn.transport.close()

    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    return _summary(latencies, time.perf_counter() - started, errors)


def _get(base: str, path: str, token: str) -> bytes:
    host = urlsplit(base).netloc
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()


def _post(base: str, path: str, token: str, body: dict[str, Any]) -> bytes:
    host = urlsplit(base).netloc
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def _pairs(base: str, token: str, count: int) -> dict[str, Any]:
    """Sequential create-then-list pairs, each request on its own connection (urllib opens one per request)."""
    import urllib.request

    def call(method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]) -> tuple[Any, Any]:
        request = urllib.request.Request(
            f"{base}{path}", method=method, data=None if body is None else json.dumps(body).encode()
        )
        request.add_header("Authorization", f"Bearer {token}")
        request.add_header("Content-Type", "application/json")
        for k, v in headers.items():
            request.add_header(k, v)
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.headers, json.loads(response.read())

    reads: list[float] = []
    misses = stale = 0
    started = time.monotonic()
    for i in range(count):
        if time.monotonic() - started > PHASE_MAX_S:
            break
        body = {"name": f"pair-{i}", "url": NEVER, "cron_expression": "0 0 1 1 *"}
        written, created = call("POST", "/api/crons", body, {})
        headers = {POSITION: written[POSITION]} if i % 2 == 0 and written.get(POSITION) else {}
        t0 = time.perf_counter()
        answered, listed = call("GET", "/api/crons?per_page=100&page=1", None, headers)
        reads.append((time.perf_counter() - t0) * 1000)
        # Oldest first: the newest is on the last page when there are more than 100.
        last = listed["meta"]["last_page"]
        if last > 1:
            answered, listed = call("GET", f"/api/crons?per_page=100&page={last}", None, headers)
        misses += created["id"] not in {c["id"] for c in listed["data"]}
        stale += answered.get(STALE) == "true"
    return {
        "pairs": len(reads),
        "misses": misses,
        "stale": stale,
        "list_p50_ms": round(_pct(reads, 0.5), 2),
        "list_p99_ms": round(_pct(reads, 0.99), 2),
    }


def _seed(stack: BenchStack, crons: int) -> int:
    """``crons`` crons, and wait (bounded) until they are listed; the id of the first."""
    first = 0
    for i in range(crons):
        status, body = http_json(
            "POST",
            f"{stack.base_url}/api/crons",
            {"name": f"seed-{i}", "url": NEVER, "cron_expression": "0 0 1 1 *"},
            stack.token,
        )
        assert status == 201 and isinstance(body, dict), body
        first = first or int(body["id"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, body = http_json("GET", f"{stack.base_url}/api/crons?per_page=100", None, stack.token)
        if status == 200 and isinstance(body, dict) and body["meta"]["total"] >= crons:
            return first
        time.sleep(0.1)
    raise RuntimeError("the seeded crons were not listed within 30 s")


def run(workdir: Path, workers: int, reads: int, writes: int, pairs: int) -> dict[str, Any]:
    env = {"CHRONOHOOK_EGRESS_ALLOW": "127.0.0.1/32"}  # the crons and pushes name the discard port on loopback
    with BenchStack(workdir, api_workers=workers, env=env) as stack:
        first = _seed(stack, 15)
        base, token = stack.base_url, stack.token
        out: dict[str, Any] = {"workers": workers}
        out["get_list"] = asyncio.run(_closed_loop(base, [_get(base, "/api/crons?per_page=15", token)] * reads, 200))
        out["get_one"] = asyncio.run(_closed_loop(base, [_get(base, f"/api/crons/{first}", token)] * reads, 200))
        push = {"queue": "bench", "url": NEVER, "delay": 3600}
        out["post_push"] = asyncio.run(_closed_loop(base, [_post(base, "/api/jobs", token, push)] * writes, 201))
        out["pairs"] = _pairs(base, token, pairs)
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--reads", type=int, default=6_000)
    parser.add_argument("--writes", type=int, default=3_000)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    return guarded(lambda: _measure(args))


def _measure(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-ryw-") as tmp:
        result = run(Path(tmp), args.workers, args.reads, args.writes, args.pairs)
    # A latency of an error answer is not a figure: any answer not the expected status fails the bench.
    for phase in ("get_list", "get_one", "post_push"):
        errors = int(result[phase]["errors"])
        if errors:
            raise BenchError(f"{phase}: {errors} answers were not the expected status")
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
