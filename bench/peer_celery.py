"""Peer comparison: the same delayed-HTTP workload through Celery + Redis (``apply_async(eta=...)``).

Run::

    python -m bench.peer_celery              # 5,000 jobs due at once; 100, 1000 and 2000 jobs/s for 10 s
    python -m bench.peer_celery --quick      # smoke run: 500 jobs; 100 and 500 jobs/s for 3 s
    python -m bench.peer_celery --help       # options (jobs, rates, seconds, pool, concurrency, waits)

Needs the ``bench`` extra (``celery[redis]``) and Debian's ``redis-server`` (``apt-get install redis-server``).

A user choosing chronohook would otherwise run Celery on Redis and send each webhook as a task with an ETA.
One run starts, on this machine, and stops on exit (also on Ctrl-C, SIGTERM or an error; should the bench
be killed outright, Linux kills both children with it):

* the recording receiver (``bench/toolkit/receiver.py``) in its own process;
* ``redis-server`` on a free 127.0.0.1 port, in a temp dir, without persistence (``--save "" --appendonly no``);
* one Celery worker, ``celery -A bench.peer.celery_app worker``, in its own process group; the task POSTs a
  small JSON body with urllib3 over keep-alive connections (``bench/peer/celery_app.py`` says which settings
  and why: Celery's defaults for prefetch (4) and the Redis visibility timeout (1 h)).

Pool: ``threads`` with 16 threads by default. The work is I/O-bound (send a POST, wait for the answer), and a
real webhook answers in tens to hundreds of milliseconds: prefork with one process per core (2 here) would
have only 2 requests in flight, i.e. 10-40 deliveries/s against such endpoints, and more processes cost
memory and a pickle round trip through a pipe per task. Threads keep many requests in flight in one process
on 2 cores; gevent/eventlet would too but are not installed. ``--pool prefork --concurrency 2`` measures the
other choice (in smoke runs here: about half the deliveries/s of threads, and hundreds of ms late at 500/s).
Gossip, mingle and worker heartbeats are off (one worker; the usual advice on Redis), the log level is
WARNING (Celery's default; INFO logs a line per task received).

Figures, all from one run:

* ceiling: the raw HTTP client of ``bench/toolkit/load.py`` (keep-alive, 32 connections) against the same
  receiver: what this machine and receiver allow;
* throughput: ``--jobs`` tasks all due at the same moment; deliveries per second at the receiver from the
  first to the last arrival, and the time from the due moment until all arrived, within a bounded wait;
* lateness: for each rate R in ``--rates``, R x ``--seconds`` tasks due at a steady R per second; p50/p99/max
  of arrival - due in ms, and how many arrived at all within ``--grace`` seconds after the last due time.
  The raw samples go to the JSON (``lateness_samples``).

In both phases every task is enqueued (``apply_async(eta=...)``) before the first is due, as a user with a backlog
would have done: the first due time is set far enough ahead, from the rate at which the previous phase was
enqueued and taken off Redis by the worker, that the worker holds the whole backlog in its ETA timer when the
first task falls due. Each figure's detail says how far ahead that was (``queued_in_redis_at_first_due`` > 0:
it was not, and the figure includes the worker still reading its backlog).

The due time travels in the path (``/b/<tag>/<seq>/<due_ms>``, epoch ms) and is compared with the receiver's
``time.time_ns()`` at arrival: one clock. A phase that leaves tasks behind (a timeout) is followed by a fresh
worker and an emptied Redis, so it does not load the next one.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import redis

from bench.peer.celery_app import BODY, BROKER_ENV, PREFETCH_MULTIPLIER, TASK_NAME, VISIBILITY_TIMEOUT_S, make_app
from bench.toolkit.expect import BenchError, expect_load
from bench.toolkit.load import LoadGenerator
from bench.toolkit.receiver import Arrival, RecordingReceiver
from bench.toolkit.report import Figure, emit, percentile

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
COMMAND = "python -m bench.peer_celery"
QUEUE = "celery"  # the Redis list of Celery's default queue
START_TIMEOUT_S = 60.0  # redis-server up; the worker's first delivery (imports on a busy 2-core machine)
STOP_TIMEOUT_S = 10.0
WARMUP_JOBS = 200
SAMPLES_CAP = 20_000
CEILING_REQUESTS = 60_000  # about a second at the rates seen here; bounded by CEILING_MAX_S
CEILING_CONCURRENCY = 32
CEILING_MAX_S = 10.0
PR_SET_PDEATHSIG = 1
DRAIN_INTERVAL_S = 0.02
DRAIN_STALL_S = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """``preexec_fn``: the child is killed when the bench dies without its ``finally`` (SIGKILL; Linux)."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _ahead(ahead: dict[str, Any]) -> str:
    held = ahead["taken_by_worker_ahead_of_first_due_s"]
    if held is None:
        return f"{ahead['queued_in_redis_at_first_due']} still in Redis at the first due time"
    return f"worker held the backlog {held:.1f} s before the first due time"


def _log(message: str) -> None:
    print(f"[peer_celery {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- arrivals


class Drain:
    """Takes the receiver's log every 20 ms on a thread and keeps it here; ``take()`` hands it over.

    Why not ``RecordingReceiver.take()`` once per phase: the receiver sends the whole log through its pipe
    in one write on a non-blocking descriptor, which fails with ``BlockingIOError`` once the pickled log
    outgrows the pipe buffer (64 KiB, ~1,500 arrivals; seen with 20,000) and leaves the caller waiting in
    ``recv`` for ever. Batches of 20 ms stay far below that even at the ceiling's rate; and a stalled drain
    is noticed (``DRAIN_STALL_S``) instead of hanging the bench.
    """

    def __init__(self, receiver: RecordingReceiver) -> None:
        self._receiver = receiver
        self._arrivals: list[Arrival] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._last_ok = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="receiver-drain", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(DRAIN_INTERVAL_S):
            try:
                batch = self._receiver.take()
            except BaseException as exc:  # reported to the main thread by take()
                self._error = exc
                return
            with self._lock:
                self._arrivals.extend(batch)
                self._last_ok = time.monotonic()

    def take(self) -> list[Arrival]:
        """Every arrival drained since the last call, in arrival order."""
        if self._error is not None:
            raise RuntimeError(f"reading the receiver failed: {self._error!r}")
        with self._lock:
            if time.monotonic() - self._last_ok > DRAIN_STALL_S:
                raise RuntimeError(f"the receiver did not hand over its log for {DRAIN_STALL_S:.0f} s")
            arrivals, self._arrivals = self._arrivals, []
        return arrivals

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)  # a drain stuck in recv ends when the receiver process stops

    def __enter__(self) -> Drain:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


# --------------------------------------------------------------------------- redis-server and the worker


class RedisServer:
    """``with RedisServer(workdir) as r``: a throwaway ``redis-server`` on a free port, nothing on disk."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server not found on PATH: install Debian's redis-server package "
                "(apt-get install redis-server); this bench does not install it"
            )
        self.port = free_port()
        self._logfile = workdir / "redis.log"
        # fmt: off
        command = [
            binary, "--bind", HOST, "--port", str(self.port), "--dir", str(workdir),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", str(self._logfile),
        ]
        # fmt: on
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # only a prctl call: safe with threads
        )
        self.client = redis.Redis(host=HOST, port=self.port, socket_timeout=10.0)
        try:
            self._wait_ready()
        except BaseException:
            self.close()
            raise

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode}:\n{_tail(self._logfile)}")
            with contextlib.suppress(redis.ConnectionError):
                if self.client.ping():
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.05)

    def queued(self) -> int:
        """Messages still in Redis, not yet taken by the worker."""
        return self.client.llen(QUEUE)

    def flush(self) -> None:
        self.client.flushall()

    def close(self) -> None:
        self.client.close()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(STOP_TIMEOUT_S)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class CeleryWorker:
    """``with CeleryWorker(...) as w``: ``celery -A bench.peer.celery_app worker`` in its own process group."""

    def __init__(self, broker_url: str, workdir: Path, pool: str, concurrency: int) -> None:
        self.logfile = workdir / "celery-worker.log"
        env = dict(os.environ)
        env[BROKER_ENV] = broker_url
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        # fmt: off
        command = [
            sys.executable, "-m", "celery", "-A", "bench.peer.celery_app", "worker",
            "--pool", pool, "--concurrency", str(concurrency), "--loglevel", "WARNING",
            "--hostname", f"peer{os.getpid()}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]
        # fmt: on
        with self.logfile.open("ab") as out:
            self._process = subprocess.Popen(
                command,
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a group: the prefork children go with it
                preexec_fn=_die_with_parent,
            )

    def check(self) -> None:
        """Raise (with the end of the worker's log) if the worker has exited."""
        if self._process.poll() is not None:
            raise RuntimeError(f"the Celery worker exited with {self._process.returncode}:\n{_tail(self.logfile)}")

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signum)

    def close(self, *, graceful: bool = True) -> None:
        """Warm shutdown (SIGTERM) bounded by ``STOP_TIMEOUT_S``, then SIGKILL to whatever is left."""
        if graceful and self._process.poll() is None:
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(STOP_TIMEOUT_S)
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(STOP_TIMEOUT_S)

    def __enter__(self) -> CeleryWorker:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


# --------------------------------------------------------------------------- the bench


@dataclass
class Delivered:
    expected: int
    lateness_ms: dict[int, float]  # seq -> arrival - due, first arrival of each job
    first_ns: int
    last_ns: int
    duplicates: int
    waited_s: float

    @property
    def arrived(self) -> int:
        return len(self.lateness_ms)


class PeerBench:
    """Owns the receiver, Redis, the worker and the sending app; each method is one bounded phase."""

    def __init__(
        self,
        stack: contextlib.ExitStack,
        workdir: Path,
        receiver: RecordingReceiver,
        drain: Drain,
        pool: str,
        concurrency: int,
    ) -> None:
        self._stack = stack
        self._workdir = workdir
        self.receiver = receiver
        self.drain = drain
        self.pool = pool
        self.concurrency = concurrency
        self.redis = stack.enter_context(RedisServer(workdir))
        self.app: Any = make_app(self.redis.url)
        stack.callback(self._close_app)
        self.task: Any = self.app.tasks[TASK_NAME]
        self.worker = self._start_worker()
        self.backlog_per_s = 0.0  # enqueued and taken off Redis by the worker, per second (last phase)
        self._tags = 0

    def _close_app(self) -> None:
        with contextlib.suppress(Exception):
            self.app.pool.force_close_all()

    def _start_worker(self) -> CeleryWorker:
        worker = CeleryWorker(self.redis.url, self._workdir, self.pool, self.concurrency)
        self._stack.push(worker)
        return worker

    def _tag(self, name: str) -> str:
        self._tags += 1
        return f"{name}{self._tags}"

    def restart(self) -> None:
        """A fresh worker and an empty Redis: drops whatever a timed-out phase left behind."""
        _log("resetting: killing the worker, flushing Redis, starting a new worker")
        self.worker.close(graceful=False)
        self.redis.flush()
        self.worker = self._start_worker()
        self.warm_up()

    def enqueue(self, tag: str, dues_ms: Sequence[int]) -> dict[str, Any]:
        """``apply_async(eta=...)`` for each due time (ascending), on one producer; then wait, at most until
        the first due time, for the worker to take the whole backlog off Redis (into its ETA timer).

        Lateness is meant to be measured against a worker that already holds its backlog, as it would hours
        after the user scheduled it; ``queued_in_redis_at_first_due`` > 0 says this run did not get there.
        """
        started = time.time()
        with self.app.producer_or_acquire() as producer:
            for seq, due_ms in enumerate(dues_ms):
                url = self.receiver.url(f"/b/{tag}/{seq}/{due_ms}")
                eta = datetime.fromtimestamp(due_ms / 1000, tz=UTC)
                self.task.apply_async((url,), eta=eta, producer=producer)
        enqueued = time.time()
        first_due = dues_ms[0] / 1000
        queued = self.redis.queued()
        while queued > 0 and time.time() < first_due:
            self.worker.check()
            time.sleep(0.05)
            queued = self.redis.queued()
        taken = time.time()
        self.backlog_per_s = (len(dues_ms) - queued) / max(taken - started, 1e-3)
        return {
            "enqueue_per_s": round(len(dues_ms) / max(enqueued - started, 1e-3)),
            "enqueued_ahead_of_first_due_s": round(first_due - enqueued, 3),
            "taken_by_worker_ahead_of_first_due_s": round(first_due - taken, 3) if queued == 0 else None,
            "queued_in_redis_at_first_due": queued,
        }

    def lead_ms(self, jobs: int) -> int:
        """How far ahead to set the first due time so that the worker holds every task before it."""
        # x2: a bigger backlog is taken more slowly than the smaller one the rate was measured on
        return int(1000 * (3.0 + 2.0 * jobs / max(self.backlog_per_s, 100.0)))

    def wait(self, tag: str, expected: int, timeout: float) -> Delivered:
        """Collect the arrivals of ``tag`` until ``expected`` or ``timeout`` s; other tags' stragglers are dropped."""
        started = time.monotonic()
        deadline = started + max(timeout, 0.1)
        lateness: dict[int, float] = {}
        first = last = 0
        duplicates = 0
        while True:
            for arrival in self.drain.take():
                parts = arrival.parts  # ["", "b", tag, seq, due_ms]
                if len(parts) != 5 or parts[2] != tag:
                    continue
                seq = int(parts[3])
                if seq in lateness:
                    duplicates += 1
                    continue
                lateness[seq] = arrival.at_ns / 1e6 - int(parts[4])
                first = arrival.at_ns if not first else min(first, arrival.at_ns)
                last = max(last, arrival.at_ns)
            if len(lateness) >= expected or time.monotonic() >= deadline:
                break
            self.worker.check()
            time.sleep(0.05)
        return Delivered(expected, lateness, first, last, duplicates, time.monotonic() - started)

    def warm_up(self) -> None:
        """The worker's first delivery (it is up), then a few ETA tasks: connections warm, enqueue rate known."""
        self.drain.take()
        tag = self._tag("w")
        self.task.apply_async((self.receiver.url(f"/b/{tag}/0/{int(time.time() * 1000)}"),))
        if self.wait(tag, 1, START_TIMEOUT_S).arrived < 1:
            self.worker.check()
            raise RuntimeError(
                f"no delivery from the worker within {START_TIMEOUT_S:.0f} s:\n{_tail(self.worker.logfile)}"
            )
        tag = self._tag("w")
        due = int(time.time() * 1000) + 1000
        ahead = self.enqueue(tag, [due] * WARMUP_JOBS)
        got = self.wait(tag, WARMUP_JOBS, 30.0)
        if got.arrived < WARMUP_JOBS:
            raise RuntimeError(f"warm-up: {got.arrived} of {WARMUP_JOBS} arrived within 30 s")
        _log(f"worker up ({self.pool} x{self.concurrency}); enqueue {ahead['enqueue_per_s']:,} tasks/s")

    def throughput(self, jobs: int, ceiling: float, max_wait_s: float) -> Figure:
        tag = self._tag("t")
        due_ms = int(time.time() * 1000) + self.lead_ms(jobs)
        ahead = self.enqueue(tag, [due_ms] * jobs)
        got = self.wait(tag, jobs, due_ms / 1000 - time.time() + max_wait_s)
        span_s = (got.last_ns - got.first_ns) / 1e9
        per_second = (got.arrived - 1) / span_s if got.arrived > 1 and span_s > 0 else 0.0
        late = list(got.lateness_ms.values())
        _log(f"throughput: {got.arrived}/{jobs} arrived, {per_second:,.0f}/s first to last; {_ahead(ahead)}")
        if got.arrived < jobs:
            self.restart()
        return Figure(
            name=f"celery+redis ({self.pool} x{self.concurrency}): {jobs} due at once",
            value=per_second,
            unit="deliveries/s",
            ceiling=ceiling,
            ceiling_name=f"raw HTTP client, {CEILING_CONCURRENCY} keep-alive conns",
            detail={
                "jobs": jobs,
                "arrived": got.arrived,
                "duplicates": got.duplicates,
                "max_wait_s": max_wait_s,
                "first_to_last_s": round(span_s, 3),
                "due_to_all_arrived_s": round(got.last_ns / 1e9 - due_ms / 1000, 3) if got.arrived == jobs else None,
                **ahead,
                "lateness_p50_ms": round(percentile(late, 0.5), 1),
                "lateness_max_ms": round(max(late), 1) if late else None,
            },
        )

    def lateness(self, rate: float, seconds: float, grace_s: float) -> tuple[list[Figure], list[float]]:
        tag = self._tag("l")
        jobs = max(1, round(rate * seconds))
        first_ms = int(time.time() * 1000) + self.lead_ms(jobs)
        dues = [first_ms + round(i * 1000 / rate) for i in range(jobs)]
        ahead = self.enqueue(tag, dues)
        got = self.wait(tag, jobs, dues[-1] / 1000 - time.time() + grace_s)
        late = [got.lateness_ms[seq] for seq in sorted(got.lateness_ms)]
        label = f"{rate:g}/s for {seconds:g} s"
        _log(f"lateness {label}: {got.arrived}/{jobs} arrived, p50 {percentile(late, 0.5):,.1f} ms; {_ahead(ahead)}")
        detail = {
            "rate_per_s": rate,
            "seconds": seconds,
            "jobs": jobs,
            "arrived": got.arrived,
            "duplicates": got.duplicates,
            "grace_s": grace_s,
            **ahead,
        }
        if got.arrived < jobs:
            self.restart()
        figures = [
            Figure(f"celery+redis lateness {name}, {label}", round(percentile(late, p), 2), "ms", detail=detail)
            for name, p in (("p50", 0.50), ("p99", 0.99), ("max", 1.0))
        ]
        figures.append(
            Figure(f"celery+redis arrived, {label}", got.arrived, f"of {jobs} jobs in {grace_s:g} s", detail=detail)
        )
        step = math.ceil(len(late) / SAMPLES_CAP) if late else 1
        return figures, [round(x, 2) for x in late[::step]]


def measure_ceiling(receiver: RecordingReceiver, drain: Drain) -> tuple[float, dict[str, Any]]:
    """The raw keep-alive client against the same receiver: the most this machine delivers."""
    with LoadGenerator() as load:
        result = load.run(
            receiver.url("/c"),  # a short path: the drained batches stay small
            [BODY] * CEILING_REQUESTS,
            concurrency=CEILING_CONCURRENCY,
            max_seconds=CEILING_MAX_S,
            expect=200,
        )
    expect_load(result, "raw client to the receiver (ceiling)", expect=200)
    drain.take()
    _log(f"ceiling: {result.per_second:,.0f} req/s ({result.ok} in {result.seconds:.1f} s)")
    detail = {
        "requests": result.ok,
        "seconds": round(result.seconds, 3),
        "p50_ms": round(result.percentile_ms(0.5), 3),
        "p99_ms": round(result.percentile_ms(0.99), 3),
        "statuses": result.statuses,
    }
    return result.per_second, detail


@contextlib.contextmanager
def _terminate_raises() -> Iterator[None]:
    """SIGTERM (e.g. from ``timeout``) unwinds like Ctrl-C, so the worker and Redis are stopped."""

    def handler(signum: int, _: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous: Callable[[int, FrameType | None], Any] | int | None = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace) -> Path:
    figures: list[Figure] = []
    samples: dict[str, list[float]] = {}
    with _terminate_raises(), contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="peer-celery-")))
        receiver = stack.enter_context(RecordingReceiver())
        drain = stack.enter_context(Drain(receiver))
        ceiling, ceiling_detail = measure_ceiling(receiver, drain)
        bench = PeerBench(stack, workdir, receiver, drain, args.pool, args.concurrency)
        bench.warm_up()
        throughput = bench.throughput(args.jobs, ceiling, args.max_wait)
        throughput.detail["ceiling"] = ceiling_detail
        figures.append(throughput)
        for rate in args.rates:
            late_figures, late_samples = bench.lateness(rate, args.seconds, args.grace)
            figures.extend(late_figures)
            samples[f"{rate:g}"] = late_samples
    import celery  # type: ignore[import-untyped]

    extra = {
        "lateness_samples": samples,
        "peer": {
            "celery": celery.__version__,
            "redis_server": subprocess.run(
                ["redis-server", "--version"], capture_output=True, text=True, check=False
            ).stdout.strip(),
            "pool": args.pool,
            "concurrency": args.concurrency,
            "worker_prefetch_multiplier": PREFETCH_MULTIPLIER,
            "visibility_timeout_s": VISIBILITY_TIMEOUT_S,
            "http_client": "urllib3 PoolManager, keep-alive, one per worker process",
        },
    }
    return emit("peer_celery", COMMAND + (" --quick" if args.quick else ""), figures, extra=extra, quick=args.quick)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=5000, help="jobs due at once for the throughput figure")
    parser.add_argument(
        "--rates",
        type=lambda s: [float(x) for x in s.split(",")],
        default=[100.0, 1000.0, 2000.0],
        help="e.g. 100,1000",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each lateness rate runs")
    parser.add_argument("--quick", action="store_true", help="smoke run: 500 jobs; rates 100,500 for 3 s")
    parser.add_argument("--pool", choices=["threads", "prefork", "solo"], default="threads")
    parser.add_argument("--concurrency", type=int, default=16, help="worker threads or processes")
    parser.add_argument("--max-wait", type=float, default=120.0, help="throughput: seconds after the due time")
    parser.add_argument("--grace", type=float, default=60.0, help="lateness: seconds after the last due time")
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.rates, args.seconds, args.grace, args.max_wait = 500, [100.0, 500.0], 3.0, 30.0, 60.0
    if args.jobs < 2 or not args.rates or min(args.rates) <= 0 or args.seconds <= 0:
        parser.error("--jobs must be >= 2, --rates and --seconds positive")
    try:
        path = run(args)
    except BenchError as exc:
        print(f"bench failed, no figure printed: {exc}", file=sys.stderr)
        return 2
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
