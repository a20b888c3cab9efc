"""Ingest: ``POST /api/jobs`` and ``POST /api/jobs/batch`` accepted per second, p50/p99, at 1, 2 and 4 workers.

``python -m bench.ingest [--workers 1 2 4] [--seconds S] [--quick]``

For each worker count, in one run:

* the **ceiling**: the same FastAPI app (``bench/ingest_ceiling.py``: same routers, auth, validation and
  event building) answering without Kafka, on as many processes sharing the port;
* the **figure**: the real stack (local broker, timer, executor, projector, and that many ingest
  processes), each 201 given only after the broker acknowledged (``acks=all``).

Load: raw keep-alive HTTP/1.1 from one process (``bench/toolkit/load.py``), closed loop, 32 connections
for single creates and 4 for batches of 1,000. Jobs are delayed an hour so none is delivered during the
run; the timer and projector still take in every job, as they do in production. Everything runs on this
machine's cores, so the load generator, broker and services share them; the ratio says how much of the
ceiling the Kafka round trip and the other services leave.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bench.toolkit.expect import expect_load, guarded
from bench.toolkit.load import LoadGenerator, LoadResult
from bench.toolkit.report import Figure, emit
from bench.toolkit.stack import BENCH_ENV, BenchStack, free_port
from chronohook.broker import LocalBroker
from chronohook.settings import Settings
from chronohook.store.engine import create_schema, make_engine
from chronohook.store.tokens import create_token

SINGLE_TARGET = 3_000.0
SINGLE_P99_TARGET_MS = 25.0
BATCH_TARGET = 50_000.0
BATCH_SIZE = 1_000
NEVER = "http://127.0.0.1:9/never"  # discard port: the jobs are an hour out and never sent during the run


def single_bodies(count: int, tag: str) -> list[bytes]:
    return [
        json.dumps({"queue": f"bench-{i % 8}", "url": f"{NEVER}/{tag}/{i}", "delay": 3600}).encode()
        for i in range(count)
    ]


def batch_bodies(count: int, tag: str) -> list[bytes]:
    return [
        json.dumps(
            {
                "jobs": [
                    {"queue": f"bench-{j % 8}", "url": f"{NEVER}/{tag}/{i}/{j}", "delay": 3600}
                    for j in range(BATCH_SIZE)
                ]
            }
        ).encode()
        for i in range(count)
    ]


def _wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def ceiling_env() -> dict[str, str]:
    """The ceiling app's environment: the same as the real stack's (``BENCH_ENV``), so both answer the same bodies.

    Without it the egress guard refused every create to the discard port on 127.0.0.1 with a 422 (loopback is
    allowed only where ``chronohook dev`` or the bench allows it), and the per-tenant create rate would have
    answered 429 past its burst: the ceiling timed refusals.
    """
    return os.environ | BENCH_ENV


@contextmanager
def ceiling_server(workdir: Path, workers: int) -> Iterator[tuple[str, dict[str, str]]]:
    """N processes of the Kafka-less app on one port; yields (base url, auth header)."""
    data = workdir / f"ceiling-{workers}"
    data.mkdir(parents=True, exist_ok=True)
    engine = make_engine(Settings(data_dir=data).resolved_database_url)
    create_schema(engine)
    token = create_token(engine, "bench")
    engine.dispose()
    port = free_port()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.ingest_ceiling",
                "--port",
                str(port),
                "--data-dir",
                str(data),
                "--node-id",
                str(i),
            ],
            env=ceiling_env(),
        )
        for i in range(workers)
    ]
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_http(f"{base}/healthz")
        yield base, {"Authorization": f"Bearer {token}"}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def measure(
    gen: LoadGenerator, base: str, auth: dict[str, str], seconds: float, tag: str
) -> tuple[LoadResult, LoadResult]:
    """Single creates then batches, each after an uncounted warm-up; raises ``BenchError`` unless every answer
    was a 201."""
    warm = gen.run(f"{base}/api/jobs", single_bodies(600, f"{tag}-warm"), headers=auth, concurrency=32, max_seconds=20)
    expect_load(warm, f"[{tag}] POST /api/jobs warm-up")
    single = gen.run(
        f"{base}/api/jobs",
        single_bodies(int(seconds * 8_000), tag),
        headers=auth,
        concurrency=32,
        max_seconds=seconds,
    )
    expect_load(single, f"[{tag}] POST /api/jobs")
    bwarm = gen.run(
        f"{base}/api/jobs/batch", batch_bodies(2, f"{tag}-bwarm"), headers=auth, concurrency=2, max_seconds=20
    )
    expect_load(bwarm, f"[{tag}] POST /api/jobs/batch warm-up")
    batch = gen.run(
        f"{base}/api/jobs/batch",
        batch_bodies(int(seconds * 40), f"{tag}-b"),
        headers=auth,
        concurrency=4,
        max_seconds=seconds,
    )
    expect_load(batch, f"[{tag}] POST /api/jobs/batch")
    return single, batch


def figures_for(workers: int, real: tuple[LoadResult, LoadResult], ceil: tuple[LoadResult, LoadResult]) -> list[Figure]:
    (single, batch), (c_single, c_batch) = real, ceil
    w = f"{workers} worker{'s' if workers > 1 else ''}"
    ceiling_name = f"same app without Kafka, {w}"
    p99 = single.percentile_ms(0.99)
    jobs_per_s = batch.per_second * BATCH_SIZE
    detail = {"single_statuses": single.statuses, "batch_statuses": batch.statuses, "seconds": single.seconds}
    return [
        Figure(
            f"POST /api/jobs accepted/s, {w}",
            single.per_second,
            "jobs/s",
            c_single.per_second,
            ceiling_name,
            f">= {SINGLE_TARGET:,.0f}",
            single.per_second >= SINGLE_TARGET,
            detail,
        ),
        Figure(f"POST /api/jobs p50, {w}", single.percentile_ms(0.5), "ms", c_single.percentile_ms(0.5), ceiling_name),
        Figure(
            f"POST /api/jobs p99, {w}",
            p99,
            "ms",
            c_single.percentile_ms(0.99),
            ceiling_name,
            f"<= {SINGLE_P99_TARGET_MS:.0f} ms",
            p99 <= SINGLE_P99_TARGET_MS,
        ),
        Figure(
            f"POST /api/jobs/batch jobs/s (1,000 a request), {w}",
            jobs_per_s,
            "jobs/s",
            c_batch.per_second * BATCH_SIZE,
            ceiling_name,
            f">= {BATCH_TARGET:,.0f}",
            jobs_per_s >= BATCH_TARGET,
        ),
        Figure(
            f"POST /api/jobs/batch p99 per request, {w}",
            batch.percentile_ms(0.99),
            "ms",
            c_batch.percentile_ms(0.99),
            ceiling_name,
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    return guarded(lambda: run(argv))


def run(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured load")
    parser.add_argument("--quick", action="store_true", help="1 and 2 workers, 3 s loads")
    args = parser.parse_args(argv)
    if args.quick:
        args.workers, args.seconds = [1, 2], 3.0
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="chronohook-bench-ingest-") as tmp, LoadGenerator() as gen:
        workdir = Path(tmp)
        broker = LocalBroker(workdir / "kafka", port=free_port(), controller_port=free_port())
        broker.start()
        try:
            for workers in args.workers:
                with ceiling_server(workdir, workers) as (base, auth):
                    ceil = measure(gen, base, auth, args.seconds, f"c{workers}")
                with BenchStack(workdir / f"stack-{workers}", api_workers=workers, bootstrap=broker.bootstrap) as s:
                    real = measure(gen, s.base_url, s.auth, args.seconds, f"r{workers}")
                figures += figures_for(workers, real, ceil)
                print(f"  {workers} worker(s): {real[0].per_second:,.0f} creates/s (ceiling {ceil[0].per_second:,.0f})")
        finally:
            broker.stop()
    emit("ingest", "python -m bench.ingest", figures, quick=args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
