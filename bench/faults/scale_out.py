"""Timer scale-out: a second timer process joins while jobs fall due, is killed with kill -9, and comes back.

``python -m bench.faults --scale-out``; ``run_scale_out(workdir)`` for tests.

**Setup.** A stack with one supervised timer (node id 0), and jobs created in batches before the window, due evenly
over it. A second timer process (``timer-2``: node id 1, so its own transactional id; its own static group instance
id; its own data directory, so its own local store files, as on another host) is started by hand, outside the
supervisor, so that a kill leaves it dead instead of restarted at once. A partition that comes back to a timer
finds its local file where that timer left it and reads the changelog written meanwhile by the other (the delta
restore), so the moves also check that path.

**Moves**, each from its cause until the timer group's assignment of the job topic shows it (``settled_s``):

1. *join*: ``timer-2`` starts; the partitions are split between the two (range assignor).
2. *kill*: ``kill -9`` of ``timer-2``; its partitions move to the first timer when the dead member's session times
   out (``session.timeout.ms`` 10 s: static membership keeps them waiting for a restart that does not come).
3. *rejoin*: ``timer-2`` is started again; the partitions are split again. Its ``init_transactions`` also aborts the
   transaction the killed incarnation may have left open. Without a restart that transaction would hold the last
   stable offset of the partitions it wrote to until ``transaction.timeout.ms`` (60 s) ran out, and no
   ``read_committed`` consumer (executor, timer) would read past it meanwhile.

**Deleted jobs.** Before the join, ``DELETED`` QuedUp jobs due at the window's end are created and deleted (once
the read model has them, as the API requires). None may ever be fired: ``deleted_fired`` counts committed ``JobDue``
for them. ``timer-2`` first gets its partition with no local file and rebuilds it from the changelog, where each of
those jobs is a put followed by a tombstone; what it rebuilt is what it restores from at the rejoin, when they are
overdue and would fire at once.

**Stall** (``--stall``; ``run_scale_out(..., stall=True)``), instead of the kill and the restart: ``timer-2`` is
stopped with SIGSTOP (a GC pause, a suspended VM) until its partitions have moved to the first timer, then resumed
with SIGCONT; it finds itself out of the group and rejoins. In between it still holds the entries it had.

**Counting** as in the fault runs: lost jobs, deliveries beyond the first, committed ``JobDue`` per occurrence and
aborted copies (``bench/faults/once.py``), lateness of first deliveries against their due time.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka.admin import AdminClient

from bench.faults.analysis import first_deliveries, parse_path
from bench.faults.harness import OnceReport, Progress, once_of_run, read_log, sleep_until
from bench.faults.once import count_due
from bench.toolkit.expect import BenchError, expect_status
from bench.toolkit.jobs import Planned, create, rfc3339_ms
from bench.toolkit.load import LoadGenerator
from bench.toolkit.receiver import Arrival, RecordingReceiver
from bench.toolkit.stack import BenchStack, http_json
from chronohook.kafka.config import admin_config
from chronohook.kafka.topics import Topics
from services.timer.service import GROUP

SECOND = "timer-2"
SECOND_NODE_ID = 1
JOBS = 1500
SPAN_S = (1.0, 10.0)  # jobs due evenly between these seconds after the window opens
JOIN_AT_S = 1.0
KILL_AT_S = 3.0  # or once the join has settled, whichever is later
DELETED = 30  # QuedUp jobs created and deleted before the join: ~10 in the partition that moves
DELETED_DUE_S = 12.0  # from their creation: after the kill, overdue or nearly due at the rejoin
SETTLE_TIMEOUT_S = 30.0  # a move not shown by then failed (the kill's takes the 10 s session timeout)
DRAIN_S = 30.0


@dataclass
class Move:
    what: str  # "join timer-2", "kill -9 timer-2", "rejoin timer-2"
    at_ns: int
    settled_s: float | None  # None: the expected assignment was not seen within SETTLE_TIMEOUT_S
    assignment: dict[str, list[int]]  # timer -> partitions of the job topic, once settled (or last seen)


@dataclass
class ScaleOutReport:
    jobs: int
    delivered: int
    lost_seqs: list[int]
    duplicates: int  # deliveries beyond a job's first
    moves: list[Move]
    once: OnceReport
    max_lateness_s: float  # first deliveries, against their due time
    late_jobs: int  # first deliveries 1 s or more after their due time (the dead member's session, mostly)
    deleted: int = 0  # QuedUp jobs deleted before the join
    deleted_fired: int = 0  # committed JobDue for them: must be 0
    deleted_delivered: int = 0  # their deliveries at the receiver
    seconds: float = 0.0
    workdir: str = ""
    errors: list[str] = field(default_factory=list)


class SecondTimer:
    """``timer-2``: the first timer's environment with its own node id, group instance id and data directory; not
    supervised."""

    def __init__(self, stack: BenchStack) -> None:
        first = stack.supervisor.children["timer"].env
        prefix = stack.settings.topic_prefix
        self.env = {
            **first,
            "CHRONOHOOK_NODE_ID": str(SECOND_NODE_ID),
            "CHRONOHOOK_GROUP_INSTANCE_ID": f"{prefix}.{SECOND}",
            "CHRONOHOOK_DATA_DIR": str((stack.workdir / f"{SECOND}-data").resolve()),
        }
        self.log = stack.workdir / "logs" / f"{SECOND}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "chronohook.cli", "serve", "timer"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def signal(self, sig: int) -> None:
        assert self.process is not None
        os.kill(self.process.pid, sig)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGCONT)  # a stopped process would not act on SIGTERM
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def assignment(admin: AdminClient, topic: str, prefix: str) -> dict[str, list[int]]:
    """This stack's timers (by static instance id, without the prefix) and their partitions of ``topic``."""
    group = f"{prefix}.{GROUP}"  # chronohook/kafka/groups.py group_id
    description = admin.describe_consumer_groups([group])[group].result(10)
    out: dict[str, list[int]] = {}
    for member in description.members:
        instance = member.group_instance_id or ""
        if not instance.startswith(f"{prefix}."):
            continue
        parts = sorted(tp.partition for tp in member.assignment.topic_partitions if tp.topic == topic)
        out[instance.removeprefix(f"{prefix}.")] = parts
    return out


def create_and_delete(stack: BenchStack, receiver: RecordingReceiver, tag: str, due_ms: int) -> list[str]:
    """``DELETED`` QuedUp jobs due at ``due_ms``, each deleted once the read model has it; their ids."""
    ids: list[str] = []
    for i in range(DELETED):
        url = receiver.url(f"/d/{tag}/{i}")
        job = {"method": "POST", "name": f"{tag}-{i}", "url": url, "run_at": rfc3339_ms(due_ms)}
        status, body = http_json("POST", f"{stack.base_url}/jobs", job, stack.token)
        expect_status(status, (200, 201), "POST /jobs", body)
        if not isinstance(body, dict):
            raise BenchError(f"POST /jobs answered {status} without a job: {body}")
        ids.append(str(body["id"]))
    deadline = time.monotonic() + 30
    for job_id in ids:
        while http_json("GET", f"{stack.base_url}/jobs/{job_id}", None, stack.token)[0] != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"job {job_id} not readable within 30 s")
            time.sleep(0.05)
        status, body = http_json("DELETE", f"{stack.base_url}/jobs/{job_id}", None, stack.token)
        expect_status(status, 204, f"DELETE /jobs/{job_id}", body)
    return ids


def run_scale_out(
    workdir: Path,
    *,
    bootstrap: str | None = None,
    jobs: int = JOBS,
    drain_s: float = DRAIN_S,
    stall: bool = False,
    progress: Progress | None = None,
) -> ScaleOutReport:
    """Start a stack in ``workdir`` (on ``bootstrap`` when given, else its own broker), run the three moves while
    ``jobs`` fall due, and count. Every process started here is stopped on return."""
    say: Progress = progress or (lambda _msg: None)
    tag = f"s{secrets.token_hex(3)}"
    started = time.monotonic()
    moves: list[Move] = []
    with (
        RecordingReceiver() as receiver,
        LoadGenerator() as gen,
        BenchStack(workdir, bootstrap=bootstrap) as stack,
    ):
        second = SecondTimer(stack)
        admin = AdminClient(admin_config(stack.settings))
        topic = Topics.from_settings(stack.settings).events
        partitions = list(range(stack.settings.partitions))
        try:
            seen: list[Arrival] = []

            def drain() -> None:
                seen.extend(receiver.take())

            def settle(what: str, at_ns: int, done: Callable[[dict[str, list[int]]], bool]) -> Move:
                shown: dict[str, list[int]] = {}
                deadline = time.monotonic() + SETTLE_TIMEOUT_S
                settled: float | None = None
                while time.monotonic() < deadline:
                    drain()
                    shown = assignment(admin, topic, stack.settings.topic_prefix)
                    if done(shown):
                        settled = (time.time_ns() - at_ns) / 1e9
                        break
                    time.sleep(0.1)
                return Move(what, at_ns, settled, shown)

            def alone(shown: dict[str, list[int]]) -> bool:
                return shown.get("timer") == partitions and SECOND not in shown

            def split(shown: dict[str, list[int]]) -> bool:
                both = shown.get("timer") and shown.get(SECOND)
                return bool(both) and sorted(shown["timer"] + shown[SECOND]) == partitions

            # No warm-up job: the timer owning every partition is what the moves start from.
            settle("start", time.time_ns(), alone)
            up_s = time.monotonic() - started
            say(f"stack up in {up_s:.0f} s; {jobs} jobs due from {SPAN_S[0]:g} to {SPAN_S[1]:g} s")
            # Created and deleted first (the read model must have each before its delete), due after the kill.
            deleted_due_ns = time.time_ns() + int(DELETED_DUE_S * 1e9)
            deleted = create_and_delete(stack, receiver, tag, deleted_due_ns // 1_000_000)
            t0_ns = time.time_ns() + 1_500_000_000  # the batches take well under a second
            step_s = (SPAN_S[1] - SPAN_S[0]) / jobs
            planned = [Planned(i, (t0_ns + round((SPAN_S[0] + i * step_s) * 1e9)) // 1_000_000) for i in range(jobs)]
            create(gen, stack.base_url, stack.auth, receiver, tag, planned)

            def move(what: str, act: Callable[[], None], done: Callable[[dict[str, list[int]]], bool]) -> None:
                at = time.time_ns()
                act()
                moves.append(settle(what, at, done))
                m = moves[-1]
                say(f"[{(at - t0_ns) / 1e9:5.1f} s] {what}: settled in {m.settled_s} s, {m.assignment}")

            sleep_until(t0_ns + int(JOIN_AT_S * 1e9), drain)
            move(f"join {SECOND}", second.start, split)
            sleep_until(t0_ns + int(KILL_AT_S * 1e9), drain)
            if stall:
                move(f"stop {SECOND}", lambda: second.signal(signal.SIGSTOP), alone)
                move(f"resume {SECOND}", lambda: second.signal(signal.SIGCONT), split)
            else:
                move(f"kill -9 {SECOND}", second.kill, alone)
                move(f"rejoin {SECOND}", second.start, split)

            # A deleted job that came back fires once due and restored: wait for that (and a hand-over) before reading.
            sleep_until(max(deleted_due_ns, time.time_ns()) + 3_000_000_000, drain)
            deadline_ns = max(time.time_ns(), planned[-1].due_ms * 1_000_000) + int(drain_s * 1e9)
            while time.time_ns() < deadline_ns:
                drain()
                if len({p for a in seen if (p := parse_path(a.path, tag)) is not None}) >= jobs:
                    break
                time.sleep(0.2)
            drain()
            log = read_log(stack.settings, (tag,))
            once = once_of_run(stack.settings, log, seen, (tag,))
            fired, error = count_due(stack.settings, set(deleted), isolation="read_committed")
            once.due.error = "; ".join(e for e in (once.due.error, error) if e)
        finally:
            second.stop()

    first, duplicates = first_deliveries(((a.at_ns, a.path) for a in seen), tag)
    lateness = [d.lateness_ns for d in first.values()]
    return ScaleOutReport(
        jobs=jobs,
        delivered=len(first),
        lost_seqs=sorted(set(range(jobs)) - set(first)),
        duplicates=duplicates,
        moves=moves,
        once=once,
        max_lateness_s=max(lateness, default=0) / 1e9,
        late_jobs=sum(1 for late in lateness if late >= 1_000_000_000),
        deleted=len(deleted),
        deleted_fired=sum(fired.values()),
        deleted_delivered=sum(1 for a in seen if a.path.startswith(f"/d/{tag}/")),
        seconds=time.monotonic() - started,
        workdir=str(workdir),
    )
