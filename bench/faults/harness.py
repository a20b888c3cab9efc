"""The fault run itself: a stack under steady load, faults on a fixed schedule, then the count at the receiver.

Definitions are in the package docstring (``bench/faults/__init__.py``).
"""

from __future__ import annotations

import math
import random
import secrets
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from confluent_kafka import Message

from bench.faults.analysis import BIN_MS, ON_TIME_NS, Delivery, bins, first_deliveries, parse_path, window
from bench.faults.once import (
    DueTally,
    WebhookCheck,
    count_due,
    due_tally,
    event_type,
    job_key,
    read_topic,
    webhook_check,
)
from bench.toolkit.expect import RETRIED, expect_load
from bench.toolkit.jobs import Planned, create, rfc3339_ms
from bench.toolkit.load import LoadGenerator, LoadResult
from bench.toolkit.receiver import Arrival, RecordingReceiver
from bench.toolkit.stack import BenchStack
from chronohook.settings import Settings
from schemas import decode_event
from schemas.events import JobPushed

SERVICES = ("timer", "executor", "projector", "ingest")
BROKER = "broker"
DELAYS_S = (1, 2)  # each job is due 1 or 2 s after its creation: some are always pending in the timer
LEAD_S = 6.0  # steady load before the first fault
KILL_GAP_S = 12.0  # from one kill to the next fault: room even for a consumer group's 10 s session timeout
# The short form's timer, executor and timer kills, 10 s apart so that the three fall within the burst's ~26 s;
# recovery from each measured at 2.6-5.2 s with the burst.
SHORT_KILL_GAP_S = 10.0
PROJECTOR_GAP_S = 6.0  # the projector is off the delivery path: its recovery bound is 5 s
# The short form's burst: jobs created in batches before the load, due evenly over the timer, executor and timer
# kills, so each kill lands among ~115 jobs falling due a second.
SHORT_BURST = 3000
BROKER_GAP_S = 45.0  # the broker takes seconds to stop and start, then every service reconnects or restarts
LONG_ROUNDS = 3
SHORT_RATE = 10.0
LONG_RATE = 25.0
DRAIN_S = 60.0  # after the last job's due time, how long to wait for stragglers
# What the CI test holds each fault to (seconds from the fault until deliveries are on time again). Justified in
# the package docstring; the figures print them as targets.
RECOVERY_BOUND_S = {"timer": 15.0, "executor": 15.0, "projector": 5.0, "ingest": 15.0, BROKER: 60.0}

Progress = Callable[[str], None]


@dataclass
class Fault:
    target: str  # "timer", "executor", "projector", "ingest" (any ingest-N), "broker"
    what: str  # "kill -9 timer", "kill -9 ingest-2", "restart broker"
    at_ns: int  # wall clock when the kill was sent / the broker was told to stop
    back_s: float | None = None  # until the process was running again (the API ready, the broker answering)
    recovery_s: float | None = None  # None: deliveries were not on time again before the next fault
    late: int = 0  # first deliveries in this fault's window later than 1 s
    max_lateness_s: float = 0.0


@dataclass
class OnceReport:
    """Exactly-once evidence over every job of the run (steady load and burst); see ``bench/faults/once.py``."""

    due: DueTally
    webhook: WebhookCheck
    burst: int = 0  # burst jobs created (all answered 201)
    burst_lost: list[int] = field(default_factory=list)  # burst seqs never delivered


@dataclass
class FaultReport:
    jobs: int  # bodies offered
    accepted: int  # answered 201
    delivered: int  # accepted jobs that arrived at least once
    lost: int  # accepted, never delivered
    lost_seqs: list[int]
    duplicates: int  # arrivals beyond the first for a job (includes retried creates, see created_twice)
    created_twice: int  # extra JobPushed records for one body: the client resent after an unanswered attempt
    due_twice: int  # extra JobDue records in the log for one job id (the timer fired again)
    unconfirmed: int  # delivered but never answered 201 (a create that succeeded without the client knowing)
    max_lateness_s: float  # first deliveries, against the planned due time
    max_lateness_scheduled_s: float  # first deliveries, against the scheduled_at the ingest gave the job
    faults: list[Fault]
    recoveries: dict[str, float | None]  # per target, the max over its faults (None: one did not recover)
    timeline: dict[str, Any]
    seconds: float
    load: dict[str, Any] = field(default_factory=dict)
    lost_history: dict[int, list[str]] = field(default_factory=dict)  # seq -> event types in the log
    workdir: str = ""
    once: OnceReport | None = None

    @property
    def duplicates_per_10k(self) -> float:
        """Deliveries beyond a job's first, per 10,000 delivered jobs: the at-least-once cost of the faults."""
        return 10_000 * self.duplicates / self.delivered if self.delivered else 0.0

    def recovered_within(self, bounds: dict[str, float]) -> dict[str, bool]:
        return {t: r is not None and r <= bounds[t] for t, r in self.recoveries.items()}


@dataclass(frozen=True)
class Plan:
    rate: float
    steps: tuple[tuple[str, float], ...]  # (target, seconds until the next fault or the end of the load)
    lead_s: float = LEAD_S
    burst: int = 0  # jobs created in batches before the load, due evenly over burst_span_s (from the load's start)
    burst_span_s: tuple[float, float] = (0.0, 0.0)

    @property
    def load_seconds(self) -> float:
        return self.lead_s + sum(gap for _, gap in self.steps)

    @property
    def jobs(self) -> int:
        return math.ceil(self.rate * self.load_seconds)


def plan(*, short: bool, rate: float | None = None, kill_gap_s: float | None = None, burst: int | None = None) -> Plan:
    """Short: the timer, the executor and the timer again killed 10 s apart while a burst of jobs falls due, then
    the projector, the ingest and one broker restart. Long: three rounds of one kill each, the broker restarted after
    the first, so later kills also meet services that went through a broker restart; no burst unless asked."""
    broker = ((BROKER, BROKER_GAP_S),)
    if short:
        gap = kill_gap_s or SHORT_KILL_GAP_S
        steps: tuple[tuple[str, float], ...] = (("timer", gap), ("executor", gap), ("timer", gap))
        steps += (("projector", PROJECTOR_GAP_S), ("ingest", kill_gap_s or KILL_GAP_S), *broker)
        span = (LEAD_S - 2, LEAD_S + 2 * gap + 4)  # the first job due 2 s before the first kill, the last 4 s after
        return Plan(rate or SHORT_RATE, steps, burst=SHORT_BURST if burst is None else burst, burst_span_s=span)
    kill_gap = kill_gap_s or KILL_GAP_S
    kills = tuple((s, kill_gap) for s in SERVICES)
    span = (LEAD_S - 2, LEAD_S + 2 * kill_gap + 4)
    return Plan(rate or LONG_RATE, kills + broker + kills * (LONG_ROUNDS - 1), burst=burst or 0, burst_span_s=span)


def run_faults(
    workdir: Path,
    *,
    short: bool = True,
    rate: float | None = None,
    seed: int = 1,
    api_workers: int = 1,
    kill_gap_s: float | None = None,
    burst: int | None = None,
    drain_s: float = DRAIN_S,
    progress: Progress | None = None,
) -> FaultReport:
    """Start a stack in ``workdir``, run the plan, and count. Every process started here is stopped on return."""
    the_plan = plan(short=short, rate=rate, kill_gap_s=kill_gap_s, burst=burst)
    say: Progress = progress or (lambda _msg: None)
    rng = random.Random(seed)
    tag = f"f{secrets.token_hex(3)}"
    burst_tag = f"{tag}b"
    started = time.monotonic()
    with RecordingReceiver() as receiver, LoadGenerator() as gen, BenchStack(workdir, api_workers=api_workers) as stack:
        say(f"stack up in {time.monotonic() - started:.0f} s; {the_plan.jobs} jobs at {the_plan.rate:g}/s, tag {tag}")
        url = f"{stack.base_url}/api/jobs"
        stack.warm_up(receiver.url("/warmup/1"), lambda: receiver.count() >= 1)
        warm = gen.run(url, [_body("warmup", receiver.url("/warmup/2"), None)], headers=stack.auth)  # spawns it
        expect_load(warm, "POST /api/jobs warm-up", total=1)
        receiver.wait_for_count(2, 60)
        receiver.take()

        # Time for the burst's batches (3,000 jobs took 0.6 s) before the load starts.
        t0_ns = time.time_ns() + (500_000_000 if not the_plan.burst else 2_000_000_000)
        burst_plan = _burst(the_plan, t0_ns)
        if burst_plan:
            took = create(gen, stack.base_url, stack.auth, receiver, burst_tag, burst_plan)
            say(f"burst: {len(burst_plan)} jobs created in {took:.1f} s, due from {the_plan.burst_span_s[0]:g} s")
        delays = [rng.choice(DELAYS_S) for _ in range(the_plan.jobs)]
        due_ms = [(t0_ns + round(i * 1e9 / the_plan.rate)) // 1_000_000 + d * 1000 for i, d in enumerate(delays)]
        bodies = [_body(tag, receiver.url(f"/b/{tag}/{i}/{due_ms[i]}"), due_ms[i]) for i in range(the_plan.jobs)]
        seen: list[Arrival] = []
        arrivals: list[tuple[int, str]] = []

        def drain() -> None:
            taken = receiver.take()
            seen.extend(taken)
            arrivals.extend((a.at_ns, a.path) for a in taken)

        sleep_until(t0_ns, drain)
        future = gen.start(
            url,
            bodies,
            rate=the_plan.rate,
            retry=True,
            headers=stack.auth,
            expect=201,
            max_seconds=the_plan.load_seconds + 120,
        )
        faults: list[Fault] = []
        at_s = the_plan.lead_s
        ingest_names = sorted(n for n in stack.supervisor.children if n.startswith("ingest"))
        ingest_kills = 0
        for target, gap in the_plan.steps:
            sleep_until(t0_ns + int(at_s * 1e9), drain)
            if target == BROKER:
                fault = _restart_broker(stack)
            else:
                name = target
                if target == "ingest":
                    name = ingest_names[ingest_kills % len(ingest_names)]
                    ingest_kills += 1
                fault = _kill(stack, target, name, drain)
            faults.append(fault)
            say(f"[{(fault.at_ns - t0_ns) / 1e9:6.1f} s] {fault.what}; back in {_fmt_s(fault.back_s)}")
            at_s += gap

        load: LoadResult = future.result(timeout=the_plan.load_seconds + 300)
        # Restarts answer with a connection error or a 5xx (retried); any other refusal is the bench's error.
        expect_load(load, "POST /api/jobs under faults", tolerate=RETRIED)
        accepted = set(load.accepted)
        say(f"load done: {len(accepted)}/{the_plan.jobs} accepted in {load.seconds:.0f} s; statuses {load.statuses}")
        last_due_ns = max(due_ms) * 1_000_000
        deadline_ns = max(time.time_ns(), last_due_ns) + int(drain_s * 1e9)
        delivered: set[int] = set()
        burst_delivered: set[int] = set()
        while time.time_ns() < deadline_ns:
            drain()
            delivered |= {p[0] for _, path in arrivals if (p := parse_path(path, tag)) is not None}
            burst_delivered |= {p[0] for _, path in arrivals if (p := parse_path(path, burst_tag)) is not None}
            if accepted <= delivered and len(burst_delivered) == len(burst_plan):
                break
            time.sleep(0.2)
        drain()
        log = read_log(stack.settings, (tag, burst_tag))
        once = once_of_run(stack.settings, log, seen, (tag, burst_tag))
        once.burst = len(burst_plan)
        once.burst_lost = sorted({p.seq for p in burst_plan} - burst_delivered)
        say(f"log read; JobDue: {once.due.committed} committed, {once.due.uncommitted} read uncommitted")

    report = analyse(
        tag=tag,
        t0_ns=t0_ns,
        jobs=the_plan.jobs,
        due_ms=due_ms,
        accepted=accepted,
        arrivals=arrivals,
        faults=faults,
        log=log,
        load=load,
    )
    report.seconds = time.monotonic() - started
    report.workdir = str(workdir)
    report.once = once
    return report


def _burst(the_plan: Plan, t0_ns: int) -> list[Planned]:
    first_s, last_s = the_plan.burst_span_s
    step_s = (last_s - first_s) / max(1, the_plan.burst)
    return [Planned(i, (t0_ns + round((first_s + i * step_s) * 1e9)) // 1_000_000) for i in range(the_plan.burst)]


def once_of_run(settings: Settings, log: LogSummary, seen: list[Arrival], tags: tuple[str, ...]) -> OnceReport:
    """JobDue per occurrence, read committed and uncommitted, and the webhook ids the receiver saw."""
    jobs = set(log.scheduled_ns)
    committed, error = count_due(settings, jobs, isolation="read_committed")
    uncommitted, error_all = count_due(settings, jobs, isolation="read_uncommitted")
    ours = [(a.path, a.webhook_id) for a in seen if any(parse_path(a.path, t) is not None for t in tags)]
    return OnceReport(
        due_tally(jobs, committed, uncommitted, "; ".join(e for e in (log.error, error, error_all) if e)),
        webhook_check(ours, log.jobs_of_path),
    )


def _body(queue: str, url: str, due_ms: int | None) -> bytes:
    """A Recuro push due at ``due_ms`` to the millisecond (``run_at``), or now. Not ``delay``: that is due on the next
    whole second at or after now + delay, up to a second after the planned due time."""
    when = "" if due_ms is None else f',"run_at":"{rfc3339_ms(due_ms)}"'
    return f'{{"queue":"{queue}","url":"{url}"{when}}}'.encode()


def sleep_until(when_ns: int, tick: Callable[[], None]) -> None:
    while (left := when_ns - time.time_ns()) > 0:
        tick()
        time.sleep(min(0.5, left / 1e9))


def _fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _kill(stack: BenchStack, target: str, name: str, tick: Callable[[], None]) -> Fault:
    child = stack.supervisor.children[name]
    deadline = time.monotonic() + 60
    while (child.process is None or child.process.poll() is not None) and time.monotonic() < deadline:
        tick()  # still being restarted after an earlier fault
        time.sleep(0.1)
    at_ns = time.time_ns()
    old = stack.kill(name)
    back: float | None = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        proc = child.process
        if proc is not None and proc.pid != old and proc.poll() is None and (target != "ingest" or _ready(stack)):
            back = (time.time_ns() - at_ns) / 1e9
            break
        time.sleep(0.05)
    return Fault(target, f"kill -9 {name}", at_ns, back)


def _ready(stack: BenchStack) -> bool:
    try:
        with urllib.request.urlopen(f"{stack.base_url}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _restart_broker(stack: BenchStack) -> Fault:
    at_ns = time.time_ns()
    stack.restart_broker()
    return Fault(BROKER, "restart broker", at_ns, (time.time_ns() - at_ns) / 1e9)


@dataclass
class LogSummary:
    """What the job log holds for this run's jobs (read committed, after the run)."""

    pushed_ns: list[int] = field(default_factory=list)  # CreateTime of each JobPushed: when the ingest appended it
    jobs_of_seq: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))  # the steady load's
    jobs_of_path: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # every tag's
    scheduled_ns: dict[str, int] = field(default_factory=dict)  # job id -> scheduled_at
    types: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # job id -> event types
    error: str = ""


def read_log(settings: Settings, tags: tuple[str, ...]) -> LogSummary:
    """The run's jobs in the log; ``tags[0]`` is the steady load's (its CreateTimes and seqs are kept apart)."""
    summary = LogSummary()

    def on_message(msg: Message) -> None:
        job_id = job_key(msg)
        kind = event_type(msg)
        if kind == "JobPushed":
            event = decode_event(msg.value() or b"")
            assert isinstance(event, JobPushed)
            path = urlsplit(event.request.url).path
            parsed = {t: p for t in tags if (p := parse_path(path, t)) is not None}
            if not parsed:
                return
            if tags[0] in parsed:
                summary.pushed_ns.append(msg.timestamp()[1] * 1_000_000)
                summary.jobs_of_seq[parsed[tags[0]][0]].append(job_id)
            summary.jobs_of_path[path].append(job_id)
            summary.scheduled_ns[job_id] = int(event.scheduled_at.timestamp() * 1e9)
        if job_id in summary.scheduled_ns:
            summary.types[job_id].append(kind)

    summary.error = read_topic(settings, on_message, isolation="read_committed")
    return summary


def analyse(
    *,
    tag: str,
    t0_ns: int,
    jobs: int,
    due_ms: list[int],
    accepted: set[int],
    arrivals: list[tuple[int, str]],
    faults: list[Fault],
    log: LogSummary,
    load: LoadResult,
) -> FaultReport:
    first, duplicates = first_deliveries(arrivals, tag)
    lost_seqs = sorted(accepted - set(first))
    ordered = sorted((d for s, d in first.items() if s in accepted), key=lambda d: d.at_ns)
    for i, fault in enumerate(faults):
        end_ns = faults[i + 1].at_ns if i + 1 < len(faults) else 2**63
        missing = sorted(due_ms[s] * 1_000_000 for s in accepted if s not in first or first[s].at_ns >= end_ns)
        w = window(ordered, missing, fault.at_ns, end_ns)
        fault.recovery_s = None if w.recovered_at_ns is None else (w.recovered_at_ns - fault.at_ns) / 1e9
        fault.late = w.late
        fault.max_lateness_s = w.max_lateness_ns / 1e9
    recoveries: dict[str, float | None] = {}
    for fault in faults:
        if fault.target in recoveries and recoveries[fault.target] is None:
            continue
        previous = recoveries.get(fault.target, 0.0)
        recoveries[fault.target] = None if fault.recovery_s is None else max(previous or 0.0, fault.recovery_s)

    max_late_sched = 0
    for seq, delivery in first.items():
        for job_id in log.jobs_of_seq.get(seq, [])[:1]:
            max_late_sched = max(max_late_sched, delivery.at_ns - log.scheduled_ns[job_id])

    ours = [at for at, path in arrivals if parse_path(path, tag) is not None]
    end_ns = max([*ours, t0_ns])
    count = (end_ns - t0_ns) // (BIN_MS * 1_000_000) + 1
    timeline = {
        "bin_ms": BIN_MS,
        "t0_ns": t0_ns,
        "arrivals": bins(ours, t0_ns, count),
        "accepted": bins(log.pushed_ns, t0_ns, count),
        "faults": [{"at_s": round((f.at_ns - t0_ns) / 1e9, 3), "what": f.what} for f in faults],
    }
    due_counts = [Counter(t)["JobDue"] for t in log.types.values()]
    return FaultReport(
        jobs=jobs,
        accepted=len(accepted),
        delivered=len(accepted) - len(lost_seqs),
        lost=len(lost_seqs),
        lost_seqs=lost_seqs,
        duplicates=duplicates,
        created_twice=sum(max(0, len(v) - 1) for v in log.jobs_of_seq.values()),
        due_twice=sum(max(0, n - 1) for n in due_counts),
        unconfirmed=len(set(first) - accepted),
        max_lateness_s=max((d.lateness_ns for d in ordered), default=0) / 1e9,
        max_lateness_scheduled_s=max_late_sched / 1e9,
        faults=faults,
        recoveries=recoveries,
        timeline=timeline,
        seconds=0.0,
        load={
            "sent": load.sent,
            "statuses": {str(k): v for k, v in load.statuses.items()},
            "seconds": round(load.seconds, 1),
            "first_error": load.first_error,
            "log_error": log.error,
        },
        lost_history={s: [t for j in log.jobs_of_seq.get(s, []) for t in log.types.get(j, [])] for s in lost_seqs},
    )


__all__ = ["ON_TIME_NS", "RECOVERY_BOUND_S", "Delivery", "Fault", "FaultReport", "OnceReport", "Plan", "plan"]
__all__ += ["Progress", "once_of_run", "read_log", "run_faults", "sleep_until"]
