"""Two timer processes, neither told a node id, on one broker and one database (``docker compose up --scale timer=2``):
each leases its own number, so its own transactional and group instance ids, and neither fences the other
(decision 0013).

Before the lease both ran under ``<prefix>.timer.0`` and each ``init_transactions`` fenced the other, forever. The
second timer is ``bench/faults/scale_out.py``'s, without its explicit node id and group instance id and on the
first's database. Its own broker, as there: the timers' group id is the same for every stack on a broker.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from sqlalchemy import select

from bench.faults.analysis import first_deliveries, parse_path
from bench.faults.harness import once_of_run, read_log
from bench.faults.scale_out import SecondTimer, assignment
from bench.toolkit.jobs import Planned, create
from bench.toolkit.load import LoadGenerator
from bench.toolkit.receiver import Arrival, RecordingReceiver
from bench.toolkit.stack import BenchStack
from chronohook.kafka.topics import Topics
from chronohook.store.engine import make_engine
from chronohook.store.tables import service_leases
from tests.support.polling import eventually

JOBS = 300
TAG = "lease"


@dataclass
class TwoTimers:
    stack: BenchStack
    second: SecondTimer
    receiver: RecordingReceiver
    gen: LoadGenerator


@pytest.fixture
def two_timers(tmp_path: Path) -> Iterator[TwoTimers]:
    """A stack (ingest, one supervised timer, executor) and a second timer process; all stopped on exit."""
    with (
        RecordingReceiver() as receiver,
        LoadGenerator() as gen,
        BenchStack(tmp_path, services=("ingest", "timer", "executor")) as stack,
    ):
        second = SecondTimer(stack)
        del second.env["CHRONOHOOK_NODE_ID"], second.env["CHRONOHOOK_GROUP_INSTANCE_ID"]
        second.env["CHRONOHOOK_DATABASE_URL"] = stack.settings.resolved_database_url
        try:
            yield TwoTimers(stack, second, receiver, gen)
        finally:
            second.stop()


@pytest.mark.timeout(120)
def test_two_timers_without_node_ids_both_stay_up_and_fire_every_job_once(two_timers: TwoTimers) -> None:
    stack, second, receiver = two_timers.stack, two_timers.second, two_timers.receiver
    settings = stack.settings
    prefix, partitions = settings.topic_prefix, list(range(settings.partitions))
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    topic = Topics.from_settings(settings).events
    first_pid = stack.pids()["timer"]

    # Given a supervised timer owning every partition
    eventually(lambda: assignment(admin, topic, prefix).get("timer") == partitions, what="the first timer's join")

    # When a second timer process starts with no CHRONOHOOK_NODE_ID and no group instance id
    second.start()

    # Then it leases number 1 and joins as <prefix>.timer-1: the partitions are split between the two
    def split() -> dict[str, list[int]] | None:
        shown = assignment(admin, topic, prefix)
        both = shown.get("timer") and shown.get("timer-1")
        return shown if both and sorted(shown["timer"] + shown["timer-1"]) == partitions else None

    eventually(split, timeout=20, what="the partitions split between timer and timer-1")
    engine = make_engine(settings.resolved_database_url)
    try:
        with engine.begin() as conn:
            numbers = conn.execute(
                select(service_leases.c.node_id, service_leases.c.claim_key).where(service_leases.c.service == "timer")
            ).all()
    finally:
        engine.dispose()
    assert sorted(n for n, _ in numbers) == [0, 1] and (0, f"{prefix}.timer") in numbers

    # When 300 jobs fall due over the next 3 s
    t0_ms = time.time_ns() // 1_000_000 + 1_000
    planned = [Planned(i, t0_ms + i * 10) for i in range(JOBS)]
    create(two_timers.gen, stack.base_url, stack.auth, receiver, TAG, planned)

    # Then every job reaches its URL
    seen: list[Arrival] = []

    def all_delivered() -> bool:
        seen.extend(receiver.take())
        return len({p for a in seen if (p := parse_path(a.path, TAG)) is not None}) >= JOBS

    eventually(all_delivered, timeout=30, interval=0.2, what="every job delivered")
    # And the log read committed holds exactly one JobDue per job
    once = once_of_run(settings, read_log(settings, (TAG,)), seen, (TAG,))
    assert once.due.error == "", once.due.error
    assert once.due.repeated == {} and once.due.jobs_without_due == 0 and once.due.jobs == JOBS
    first, duplicates = first_deliveries(((a.at_ns, a.path) for a in seen), TAG)
    assert len(first) == JOBS and duplicates == 0
    # And neither timer was fenced out and restarted meanwhile
    assert second.process is not None and second.process.poll() is None
    assert stack.pids()["timer"] == first_pid and stack.supervisor.children["timer"].restarts == 0
