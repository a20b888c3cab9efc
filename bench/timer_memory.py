"""The timer's memory against the number of pending jobs, and its restore time after kill -9 (issue 10, item 4).

``python -m bench.timer_memory [--max N] [--bootstrap HOST:PORT] [--restore-at N] [--quick]``

Starts a local broker (free ports, a temporary directory) unless ``--bootstrap`` names one, creates the topics
the way the services do, and starts one real timer process (``chronohook serve timer``, as the supervisor runs
it). Then, for each level of 1k, 10k, 100k, 1M and 10M pending jobs (up to ``--max``):

* writes the jobs missing to reach the level straight to the job-events topic as ``JobPushed`` events (an
  idempotent producer, big batches), each due 30 to 60 days ahead, so all are far;
* waits until the timer's consumer group has committed every one of them (lag 0), polling the timer's RSS
  (``VmRSS`` of ``/proc/<pid>/status``) all along, and reads its RSS at rest, a few seconds after lag 0.

The ceiling, measured in the same run: the RSS of the same timer process idle with 0 pending, before the first
job. The figure per level is the RSS; bytes of RAM per far job is (RSS at the largest level - idle RSS) / jobs.

Restore after kill -9, at ``--restore-at`` pending (default 1M, or the largest level below it): one more job,
due 3 s ahead, is written and committed by the timer; the timer is killed with SIGKILL; once the job's due time
has passed, a new timer process starts. The figure is the time from that start to the job's ``JobDue`` on the
log (read_committed): start-up, group join, restore and the fire.

Targets (issue 10): 10,000,000 pending under 1.5 GB RSS (aim: <= 100 bytes of RAM per far job); after kill -9
with 1,000,000 pending, firing again within 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from bench.toolkit.report import Figure, emit
from bench.toolkit.stack import free_port
from chronohook.broker import LocalBroker
from chronohook.kafka import config as kafka_config
from chronohook.kafka.groups import group_id
from chronohook.kafka.records import read_record, record_of
from chronohook.kafka.topics import Topics, ensure_topics
from chronohook.settings import Settings
from schemas.events import HttpRequestSpec, JobPushed
from schemas.topics import TYPE_HEADER
from services.timer.service import GROUP as TIMER_GROUP
from services.timer.store import SqliteEntryStore

COMMAND = "python -m bench.timer_memory"
LEVELS = (1_000, 10_000, 100_000, 1_000_000, 10_000_000)
QUICK_LEVELS = (1_000, 10_000)
RESTORE_AT = 1_000_000
TARGET_RSS_MB = 1_500.0
TARGET_BYTES_PER_JOB = 100.0
TARGET_RESTORE_S = 30.0
# Bounds: every wait below ends by itself.
START_TIMEOUT_S = 120.0
SETTLE_S = 12.0
PROBE_DUE_S = 3.0
FIRE_TIMEOUT_S = 600.0
# The timer must keep up at least this rate, or a level is cut short and reported as reached.
MIN_RATE_PER_S = 200.0


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


class Templates:
    """``JobPushed`` bytes for job n without building a model per job: one encoded event, its ids substituted."""

    def __init__(self) -> None:
        self.base = datetime.now(UTC) + timedelta(days=30)
        event = JobPushed(
            event_id="evt_@@@@@@@@@@",
            job_id="job_@@@@@@@@@@",
            tenant="bench",
            occurred_at=datetime.now(UTC),
            integer_id=1,
            queue="emails",
            queue_id=4242,
            request=HttpRequestSpec(
                method="POST",
                url="http://127.0.0.2:9/hooks/@@@@@@@@@@",
                headers={"Content-Type": "application/json"},
                body='{"to":"user@example.com","subject":"Welcome!","template":"welcome-v2"}',
            ),
            scheduled_at=self.base,
        )
        _, value, headers = record_of(event)
        self.value = value
        self.when = json.loads(value)["scheduled_at"].encode()
        self.headers = headers

    def job(self, n: int) -> tuple[bytes, bytes]:
        digits = b"%010d" % n
        # Due 30 to 60 days ahead, spread to the second: far, and a realistic wake index.
        due = (self.base + timedelta(seconds=n % (30 * 86_400))).isoformat().encode()
        return b"job_" + digits, self.value.replace(b"@@@@@@@@@@", digits).replace(self.when, due, 1)


def produce_jobs(settings: Settings, topic: str, templates: Templates, start: int, stop: int) -> float:
    """Jobs ``start``..``stop - 1``; returns the seconds it took (all acknowledged)."""
    producer = Producer(
        kafka_config.producer_config(
            settings,
            **{"linger.ms": 50, "batch.size": 1_000_000, "queue.buffering.max.messages": 500_000},
        )
    )
    began = time.monotonic()
    for n in range(start, stop):
        key, value = templates.job(n)
        while True:
            try:
                producer.produce(topic, value, key=key, headers=templates.headers)
                break
            except BufferError:
                producer.poll(0.05)
        if n % 10_000 == 0:
            producer.poll(0)
    left = producer.flush(300)
    if left:
        raise RuntimeError(f"{left} jobs not acknowledged")
    return time.monotonic() - began


class TimerProcess:
    """One ``chronohook serve timer``, as the supervisor starts it (its own static group member id)."""

    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.env = dict(os.environ)
        self.env.update(
            CHRONOHOOK_DATA_DIR=str(settings.data_dir.resolve()),
            CHRONOHOOK_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
            CHRONOHOOK_TOPIC_PREFIX=settings.topic_prefix,
            CHRONOHOOK_PARTITIONS=str(settings.partitions),
            CHRONOHOOK_GROUP_INSTANCE_ID=f"{settings.topic_prefix}.timer",
            CHRONOHOOK_LOG_LEVEL="INFO",
        )
        self.log = workdir / "timer.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.started = time.monotonic()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "chronohook.cli", "serve", "timer"], env=self.env, stdout=out, stderr=out
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


class Lag:
    """The timer group's committed offsets against the job log's ends (without joining the group)."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.topic = topic
        config = kafka_config.consumer_config(settings, group_id(settings, TIMER_GROUP))
        config.pop("group.instance.id", None)
        self.consumer: Any = Consumer(config)
        self.partitions = [TopicPartition(topic, p) for p in range(settings.partitions)]
        # Records that are never consumed: once the timer has written its own transactions to the log (the probe's
        # JobDue), each partition may end with a commit marker its group's offset does not pass.
        self.slack = 0

    def left(self) -> int:
        committed = self.consumer.committed(self.partitions, timeout=10)
        total = 0
        for tp in committed:
            _, high = self.consumer.get_watermark_offsets(TopicPartition(self.topic, tp.partition), timeout=10)
            total += high - max(tp.offset, 0)
        return total

    def close(self) -> None:
        self.consumer.close()


def wait_caught_up(timer: TimerProcess, lag: Lag, jobs: int, peak: list[int]) -> tuple[float, int]:
    """Poll lag and RSS until lag is 0 (a few records remain: the transactions' markers); returns the seconds
    taken and the lag left (0 unless cut short because the timer fell below MIN_RATE_PER_S)."""
    began = time.monotonic()
    while True:
        if not timer.alive():
            raise RuntimeError(f"the timer died; see {timer.log}")
        peak[0] = max(peak[0], rss_kib(timer.pid))
        left = lag.left()
        if left <= lag.slack:
            return time.monotonic() - began, 0
        took = time.monotonic() - began
        if took > 60 and (jobs - left) / took < MIN_RATE_PER_S:
            return took, left
        time.sleep(0.5)


def settle_rss(pid: int) -> int:
    """RSS at rest: the smallest of a few readings over SETTLE_S (the last batch's buffers released)."""
    readings = []
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        readings.append(rss_kib(pid))
        time.sleep(0.5)
    return min(readings)


def wait_for_due(settings: Settings, topic: str, job_id: bytes, since: dict[int, int], timeout: float) -> float:
    """Monotonic time at which the job's JobDue is readable (read_committed), reading from ``since``."""
    consumer: Any = Consumer(kafka_config.consumer_config(settings, f"bench-probe-{secrets.token_hex(4)}"))
    try:
        consumer.assign([TopicPartition(topic, p, offset) for p, offset in since.items()])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for msg in consumer.consume(1_000, 0.05):
                record = read_record(msg)
                if record is not None and record.key == job_id and record.type == "JobDue":
                    return time.monotonic()
        raise RuntimeError(f"no JobDue for {job_id!r} within {timeout:.0f} s")
    finally:
        consumer.close()


def ends(settings: Settings, topic: str) -> dict[int, int]:
    consumer: Any = Consumer(kafka_config.consumer_config(settings, f"bench-ends-{secrets.token_hex(4)}"))
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(settings.partitions)
        }
    finally:
        consumer.close()


def measure_restore(settings: Settings, topics: Topics, timer: TimerProcess, lag: Lag, n: int) -> dict[str, float]:
    """kill -9 with the pending jobs in place; a new timer's time from start to firing a job due before it."""
    due = datetime.now(UTC) + timedelta(seconds=PROBE_DUE_S)
    key, probe_value, headers = probe_event(n, due)
    since = ends(settings, topics.events)
    producer = Producer(kafka_config.producer_config(settings))
    producer.produce(topics.events, probe_value, key=key, headers=headers)
    producer.flush(30)
    deadline = time.monotonic() + PROBE_DUE_S
    while lag.left() > lag.slack:
        if time.monotonic() > deadline:
            raise RuntimeError("the timer did not commit the probe job before it was due")
        time.sleep(0.05)
    timer.kill9()
    # Start the new process only once the probe is overdue: its firing then waits on the restore alone.
    time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds() + 0.2))
    timer.start()
    fired = wait_for_due(settings, topics.events, key, since, FIRE_TIMEOUT_S)
    lag.slack = settings.partitions
    # The restarted timer holds the same jobs without having consumed them: its RSS is the state's alone.
    return {"restore_s": fired - timer.started, "restarted_rss_kib": float(settle_rss(timer.pid))}


def probe_event(n: int, due: datetime) -> tuple[bytes, bytes, list[tuple[str, str | bytes | None]]]:
    event = JobPushed(
        event_id=f"evt_probe_{n}",
        job_id=f"job_probe_{n}",
        tenant="bench",
        occurred_at=datetime.now(UTC),
        integer_id=2,
        queue="probe",
        queue_id=4243,
        request=HttpRequestSpec(method="POST", url="http://127.0.0.2:9/probe"),
        scheduled_at=due,
    )
    key, value, headers = record_of(event)
    return key, value, [(TYPE_HEADER, dict(headers)[TYPE_HEADER])]


def run(workdir: Path, bootstrap: str | None, levels: tuple[int, ...], restore_at: int) -> list[Figure]:
    broker = None
    if bootstrap is None:
        broker = LocalBroker(workdir / "kafka", port=free_port(), controller_port=free_port())
        broker.start()
        bootstrap = broker.bootstrap
    settings = Settings(
        data_dir=workdir / "data", kafka_bootstrap=bootstrap, topic_prefix=f"bench-{secrets.token_hex(4)}", partitions=3
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    topics = ensure_topics(settings)
    templates = Templates()
    timer = TimerProcess(settings, workdir)
    lag = Lag(settings, topics.events)
    figures: list[Figure] = []
    try:
        timer.start()
        owns = _wait_log(timer, "timer owns partitions", START_TIMEOUT_S)
        print(f"timer up in {owns:.1f} s", flush=True)
        idle_kib = settle_rss(timer.pid)
        print(f"idle RSS {idle_kib / 1024:.1f} MiB", flush=True)
        pending = 0
        levels_done: list[dict[str, float]] = []
        restore: dict[str, float] | None = None
        for level in levels:
            wrote = produce_jobs(settings, topics.events, templates, pending, level)
            peak = [0]
            took, left = wait_caught_up(timer, lag, level - pending, peak)
            reached = level - left
            rate = (reached - pending) / max(took, 1e-9)
            rss = settle_rss(timer.pid)
            hwm = rss_kib(timer.pid, "VmHWM")
            disk = sum(f.stat().st_size for f in settings.timer_state_dir.rglob("*.sqlite*"))
            row = {
                "pending": float(reached),
                "rss_kib": float(rss),
                "peak_rss_kib": float(max(peak[0], hwm)),
                "written_s": wrote,
                "consumed_s": took,
                "consumed_per_s": rate,
                "disk_bytes": float(disk),
            }
            levels_done.append(row)
            print(
                f"{reached:>10,} pending: RSS {rss / 1024:.1f} MiB (peak {row['peak_rss_kib'] / 1024:.1f}), written in"
                f" {wrote:.1f} s, consumed in {took:.1f} s ({rate:,.0f}/s), {disk / 2**20:,.0f} MiB on disk",
                flush=True,
            )
            figures.append(
                Figure(
                    name=f"timer RSS, {reached:,} pending (far)",
                    value=rss / 1024,
                    unit="MiB",
                    ceiling=idle_kib / 1024,
                    ceiling_name="the same timer idle, 0 pending",
                    target=f"< {TARGET_RSS_MB:,.0f} MB at 10M" if level == 10_000_000 else "",
                    met=(rss * 1024 / 1e6 < TARGET_RSS_MB) if level == 10_000_000 and not left else None,
                    detail=row,
                )
            )
            pending = reached
            if left:
                print(f"stopped: the timer consumed {rate:,.0f} jobs/s, {left:,} left unread", flush=True)
                break
            if restore is None and (level == restore_at or level == max(lv for lv in levels if lv <= restore_at)):
                restore = measure_restore(settings, topics, timer, lag, level)
                restore["pending"] = float(level)
                pending += 1
                print(
                    f"restore after kill -9 at {level:,} pending: fired {restore['restore_s']:.2f} s after start;"
                    f" restarted RSS {restore['restarted_rss_kib'] / 1024:.1f} MiB",
                    flush=True,
                )
        last = levels_done[-1]
        per_job = (last["rss_kib"] - idle_kib) * 1024 / max(last["pending"], 1)
        big = last["pending"] >= 10_000_000
        figures.append(
            Figure(
                name=f"timer RAM per far job at {last['pending']:,.0f} pending",
                value=per_job,
                unit="bytes/job",
                ceiling=None,
                ceiling_name="(RSS - idle RSS) / pending",
                target=f"<= {TARGET_BYTES_PER_JOB:.0f} bytes/job",
                met=(per_job <= TARGET_BYTES_PER_JOB) if big else None,
                detail={"idle_rss_kib": idle_kib, **last},
            )
        )
        if restore is not None:
            figures.append(
                Figure(
                    name=f"timer RSS restarted with {restore['pending']:,.0f} pending (on disk)",
                    value=restore["restarted_rss_kib"] / 1024,
                    unit="MiB",
                    ceiling=idle_kib / 1024,
                    ceiling_name="the same timer idle, 0 pending",
                    detail=restore,
                )
            )
            figures.append(
                Figure(
                    name=f"restore after kill -9, {restore['pending']:,.0f} pending: start to fire",
                    value=restore["restore_s"],
                    unit="s",
                    target=f"< {TARGET_RESTORE_S:.0f} s at 1M",
                    met=(restore["restore_s"] < TARGET_RESTORE_S) if restore["pending"] >= 1_000_000 else None,
                    detail=restore,
                )
            )
        timer.stop()
        figures.append(point_read_cost(settings, int(last["pending"])))
        return figures
    finally:
        timer.stop()
        lag.close()
        if broker is not None:
            broker.stop()


def point_read_cost(settings: Settings, pending: int, reads: int = 20_000) -> Figure:
    """What the timer pays per entry it looks up in a store (each consumed event's entry, each fire): a SQLite point
    read by key in the files the run left, then the entry's decode; random keys of the pending jobs."""
    # The bench's one timer leases number 0 in its fresh database.
    store = SqliteEntryStore(settings.timer_store_dir(0))
    partitions = range(settings.partitions)
    for p in partitions:
        store.open(p)
    keys = [b"job_%010d" % random.randrange(pending) for _ in range(reads)]
    try:
        rows = []
        calls = 0
        began = time.perf_counter()
        for key in keys:
            text = key.decode()
            for p in partitions:
                calls += 1
                row = store.get(p, text)
                if row is not None:
                    rows.append(row)
                    break
        read_s = time.perf_counter() - began
        began = time.perf_counter()
        for row in rows:
            row.entry()
        decode_s = time.perf_counter() - began
    finally:
        store.close_all()
    # The timer looks a key up in its own partition only; here, not knowing it, each partition is tried in turn.
    per_read_us = read_s / calls * 1e6
    decode_us = decode_s / max(len(rows), 1) * 1e6
    return Figure(
        name=f"store point read + decode, {pending:,} on disk",
        value=per_read_us + decode_us,
        unit="us/lookup",
        ceiling=decode_us,
        ceiling_name="the decode alone (what a lookup in RAM would still cost)",
        detail={"point_read_us": per_read_us, "decode_us": decode_us, "found": len(rows), "reads": calls},
    )


def _wait_log(timer: TimerProcess, text: str, timeout: float, occurrence: int = 1) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if timer.log.exists() and timer.log.read_text(errors="replace").count(text) >= occurrence:
            return time.monotonic() - timer.started
        if not timer.alive():
            raise RuntimeError(f"the timer died; see {timer.log}")
        time.sleep(0.1)
    raise RuntimeError(f"the timer did not log {text!r} within {timeout:.0f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--max", type=int, default=LEVELS[-1], help="the largest pending count (default 10M)")
    parser.add_argument("--restore-at", type=int, default=RESTORE_AT, help="pending count of the kill -9 restore")
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--quick", action="store_true", help="1k and 10k only; results under bench/results/quick")
    args = parser.parse_args(argv)
    levels = QUICK_LEVELS if args.quick else tuple(lv for lv in LEVELS if lv <= args.max)
    if args.max not in levels and not args.quick:
        levels = (*levels, args.max)
    with tempfile.TemporaryDirectory(prefix="bench-timer-memory-") as tmp:
        figures = run(Path(tmp), args.bootstrap, levels, min(args.restore_at, levels[-1]))
    extra_args = f" --max {args.max}" if args.max != LEVELS[-1] else ""
    emit("timer_memory", COMMAND + (" --quick" if args.quick else extra_args), figures, quick=args.quick)


if __name__ == "__main__":
    main()
