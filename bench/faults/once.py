"""Exactly-once evidence from the job log and the receiver: ``JobDue`` records per occurrence, and the webhook-id of
every HTTP delivery.

``read_topic`` reads a whole topic, every partition from its beginning to its end, at one isolation level: with
``read_committed`` the end is the last stable offset (what consumers may see), with ``read_uncommitted`` the high
watermark, so records of aborted transactions are seen too. ``due_tally`` counts ``JobDue`` records per run id
(``<job id>:<occurrence ms>:<attempt>``) for the run's jobs; ``webhook_check`` groups deliveries by the job they
belong to.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from chronohook.kafka.config import connection_config
from chronohook.kafka.topics import Topics
from chronohook.settings import Settings
from schemas import decode_event
from schemas.events import JobDue

READ_TIMEOUT_S = 60.0


def read_topic(
    settings: Settings, on_message: Callable[[Message], None], *, isolation: str, timeout: float = READ_TIMEOUT_S
) -> str:
    """Call ``on_message`` for each record of the job-events topic, in partition order; return "" or what failed."""
    topic = Topics.from_settings(settings).events
    consumer = Consumer(
        {
            **connection_config(settings),
            "group.id": f"bench-faults-{isolation}-{time.time_ns()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": isolation,
        }
    )
    try:
        partitions = list(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        remaining = set(partitions)
        deadline = time.monotonic() + timeout
        while remaining and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.5):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        remaining.discard(msg.partition())
                        continue
                    raise KafkaException(err)
                on_message(msg)
        if remaining:
            return f"partitions {sorted(remaining)} not read to the end within {timeout:.0f} s ({isolation})"
        return ""
    except KafkaException as exc:
        return str(exc)
    finally:
        consumer.close()


def event_type(msg: Message) -> str:
    value = dict(msg.headers() or []).get("type", b"")
    return value.decode() if isinstance(value, bytes) else str(value)


def job_key(msg: Message) -> str:
    key = msg.key()
    return key.decode() if isinstance(key, bytes) else str(key)


def count_due(settings: Settings, jobs: Collection[str], *, isolation: str) -> tuple[Counter[str], str]:
    """``JobDue`` records per run id, for the given job ids only; and "" or what failed while reading."""
    runs: Counter[str] = Counter()

    def on_message(msg: Message) -> None:
        if event_type(msg) == "JobDue" and job_key(msg) in jobs:
            event = decode_event(msg.value() or b"")
            assert isinstance(event, JobDue)
            runs[event.run_id] += 1

    return runs, read_topic(settings, on_message, isolation=isolation)


@dataclass
class DueTally:
    """``JobDue`` of a run's jobs in the log: committed (what every consumer reads) and all (aborted included)."""

    jobs: int  # the run's jobs (JobPushed, committed)
    occurrences: int  # distinct run ids with a committed JobDue
    committed: int  # committed JobDue records
    repeated: dict[str, int]  # run id -> committed JobDue records, where more than one
    jobs_without_due: int  # jobs of the run with no committed JobDue at all
    jobs_with_more_runs: int  # jobs with more than one run id (a second occurrence or attempt)
    uncommitted: int  # JobDue records a read_uncommitted reader sees: committed plus aborted copies
    error: str = ""

    @property
    def aborted_copies(self) -> int:
        """Copies written in transactions that were then aborted (a killed timer's): no read_committed consumer saw
        them."""
        return self.uncommitted - self.committed

    @property
    def once(self) -> bool:
        return not self.repeated and self.jobs_without_due == 0 and not self.error


def due_tally(jobs: Collection[str], committed: Counter[str], uncommitted: Counter[str], error: str = "") -> DueTally:
    runs_of: dict[str, set[str]] = defaultdict(set)
    for run in committed:
        runs_of[run.split(":", 1)[0]].add(run)
    return DueTally(
        jobs=len(jobs),
        occurrences=len(committed),
        committed=sum(committed.values()),
        repeated={run: n for run, n in committed.items() if n > 1},
        jobs_without_due=sum(1 for job in jobs if job not in runs_of),
        jobs_with_more_runs=sum(1 for runs in runs_of.values() if len(runs) > 1),
        uncommitted=sum(uncommitted.values()),
        error=error,
    )


@dataclass
class WebhookCheck:
    """Every delivery of a run's jobs grouped by its ``webhook-id`` (``<job id>:<occurrence ms>``)."""

    deliveries: int
    occurrences: int  # distinct webhook ids delivered
    repeated_deliveries: int  # deliveries beyond the first of one webhook id: one occurrence sent again
    foreign: list[tuple[str, str]] = field(default_factory=list)  # (path, webhook id) not of a job created for it
    jobs_with_two_ids: list[str] = field(default_factory=list)  # a job whose deliveries carried different ids

    @property
    def consistent(self) -> bool:
        """Every delivery of one job carried one webhook id, that of a job created for its URL: a repeat carries the
        first delivery's id, and only a second job for one body (a create the client resent) brings a new one."""
        return not self.foreign and not self.jobs_with_two_ids


def webhook_check(arrivals: Iterable[tuple[str, str]], jobs_of_path: dict[str, list[str]]) -> WebhookCheck:
    """``arrivals``: (path, webhook id) of each delivery of the run's jobs; ``jobs_of_path``: the job ids the log
    says were created with that URL path."""
    seen: Counter[str] = Counter()
    ids_of_job: dict[str, set[str]] = defaultdict(set)
    foreign: list[tuple[str, str]] = []
    total = 0
    for path, webhook_id in arrivals:
        total += 1
        seen[webhook_id] += 1
        job = webhook_id.split(":", 1)[0]
        ids_of_job[job].add(webhook_id)
        if job not in jobs_of_path.get(path, ()):
            foreign.append((path, webhook_id))
    two = sorted(job for job, ids in ids_of_job.items() if len(ids) > 1)
    return WebhookCheck(total, len(seen), total - len(seen), foreign, two)
