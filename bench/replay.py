"""Replay speed: ``chronohook replay``'s fold of the job log into a fresh SQLite database, against raw consumption.

``python -m bench.replay [--events N] [--bootstrap HOST:PORT] [--quick]``

Starts a local broker (free ports, a temporary directory) unless ``--bootstrap`` names one, creates fresh topics
the way the services do, and writes N events (default 1,000,000; ``--quick`` 30,000) as the pipeline would for
N/3 Recuro jobs with a JSON payload and a callback: each job's ``JobPushed``, ``JobDue`` and ``JobSucceeded`` (a
run with request and response headers and a small body), keyed by job id, a thousand jobs' pushes, then their
dues, then their results, so a job's events are spread over the log as they are live. Not timed.

Then, timed:

* **replay**: ``Replayer.run`` to the high watermarks (what ``chronohook replay --into`` does: the projector's
  fold, ``ReadModelStore.apply`` into SQLite), from assigning the partitions to the last record folded;
* **ceiling, consume**: the same topic read with the project's consumer config and no fold (``consume`` batches
  of 5,000; the replay takes up to 20,000 at a time);
* **consume + decode**: the same plus ``read_record`` and the codec: what is left to the fold and SQL.

The figure is events/s; the target, from issue 9: 1,000,000 events in under 60 s (checked only on a full run).
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from bench.toolkit.report import Figure, emit
from bench.toolkit.stack import free_port
from chronohook.broker import LocalBroker
from chronohook.clock import SystemClock
from chronohook.ids import queue_id, recuro_job_key
from chronohook.kafka import config as kafka_config
from chronohook.kafka.records import read_record, record_of
from chronohook.kafka.topics import ensure_topics
from chronohook.readmodel.store import ReadModelStore
from chronohook.settings import Settings
from chronohook.store.engine import create_schema, make_engine
from schemas import decode_event
from schemas.events import HttpRequestSpec, JobDue, JobPushed, JobSucceeded, RunOutcome
from services.projector.replay import Replayer
from services.projector.replay_command import _fast_sqlite

COMMAND = "python -m bench.replay"
DEFAULT_EVENTS = 1_000_000
QUICK_EVENTS = 30_000
CHUNK = 1_000  # jobs whose pushes, then dues, then results are written together
TARGET_SECONDS = 60.0
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def job_events(n: int) -> tuple[JobPushed, JobDue, JobSucceeded]:
    """One Recuro job's push, due and success, as ingest, the timer and the executor write them."""
    integer_id = 244_862_754_729_984 + n
    key = recuro_job_key(integer_id)
    at = T0 + timedelta(milliseconds=n)
    run_id = f"{key}:{int(at.timestamp() * 1000)}:1"
    body = f'{{"to":"user{n}@example.com","subject":"Welcome!","template":"welcome-v2","locale":"en"}}'
    callback = "https://api.yourapp.com/recuro-callback"
    request = HttpRequestSpec(
        method="POST",
        url=f"https://api.yourapp.com/send/{n}",
        headers={"Content-Type": "application/json", "X-Source": "bench"},
        body=body,
        timeout_seconds=30.0,
    )
    queue = f"emails-{n % 8}"
    qid = queue_id("bench", queue)
    pushed = JobPushed(
        event_id=f"ev-p-{n}",
        job_id=key,
        tenant="bench",
        occurred_at=at,
        integer_id=integer_id,
        queue=queue,
        queue_id=qid,
        request=request,
        payload={"to": f"user{n}@example.com", "subject": "Welcome!", "template": "welcome-v2", "locale": "en"},
        scheduled_at=at + timedelta(seconds=5),
        delay_seconds=5,
        callback_url=callback,
    )
    due = JobDue(
        event_id=f"ev-d-{n}",
        job_id=key,
        tenant="bench",
        occurred_at=at + timedelta(seconds=5),
        run_id=run_id,
        due_at=at + timedelta(seconds=5),
        request=request,
        callback_url=callback,
        webhook_id=f"msg_{key}",
        queue=queue,
        queue_id=qid,
    )
    done = at + timedelta(seconds=5, milliseconds=42)
    succeeded = JobSucceeded(
        event_id=f"ev-s-{n}",
        job_id=key,
        tenant="bench",
        occurred_at=done,
        outcome=RunOutcome(
            run_id=run_id,
            attempt=1,
            due_at=at + timedelta(seconds=5),
            started_at=at + timedelta(seconds=5, milliseconds=1),
            finished_at=done,
            duration_ms=41.3,
            request_headers={"Content-Type": "application/json", "webhook-id": f"msg_{key}"},
            request_body=body,
            response_status=200,
            response_headers={"Content-Type": "application/json", "Content-Length": "27"},
            response_body='{"ok":true,"id":"m_' + str(n) + '"}',
            callback_url=callback,
        ),
    )
    return pushed, due, succeeded


def write_log(settings: Settings, topic: str, events: int) -> int:
    producer = Producer(kafka_config.producer_config(settings))
    jobs = events // 3
    written = 0
    for start in range(0, jobs, CHUNK):
        triples = [job_events(n) for n in range(start, min(start + CHUNK, jobs))]
        for step in range(3):
            for triple in triples:
                key, value, headers = record_of(triple[step])
                while True:
                    try:
                        producer.produce(topic, value, key=key, headers=headers)
                        break
                    except BufferError:
                        producer.poll(0.005)
                written += 1
        producer.poll(0)
    if producer.flush(60) != 0:
        raise RuntimeError("the bench's events were not all acknowledged")
    return written


def consume_all(settings: Settings, topic: str, expected: int, handle: Callable[[Message], None]) -> float:
    """Seconds to read ``expected`` records from the beginning, from the assignment on, with ``handle`` each."""
    config = kafka_config.consumer_config(settings, f"{topic}.bench.{secrets.token_hex(4)}")
    consumer = Consumer(config)
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        start = time.perf_counter()
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        seen = 0
        while seen < expected:
            msgs = consumer.consume(5_000, 1.0)
            for msg in msgs:
                handle(msg)
            seen += len(msgs)
        return time.perf_counter() - start
    finally:
        consumer.close()


def _raw(msg: Message) -> None:
    if msg.error() is not None:
        raise RuntimeError(f"consume failed: {msg.error()}")


def _decode(msg: Message) -> None:
    record = read_record(msg)
    assert record is not None and record.value is not None
    decode_event(record.value)


def measure(bootstrap: str, events: int, tmp: Path, quick: bool) -> tuple[list[Figure], dict[str, Any]]:
    settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=f"bench-replay-{secrets.token_hex(4)}")
    topics = ensure_topics(settings)
    try:
        t = time.perf_counter()
        written = write_log(settings, topics.events, events)
        print(f"wrote {written:,} events in {time.perf_counter() - t:.1f} s; consuming (ceiling) ...", flush=True)
        raw_s = consume_all(settings, topics.events, written, _raw)
        decode_s = consume_all(settings, topics.events, written, _decode)
        print("replaying ...", flush=True)
        engine = make_engine(f"sqlite:///{tmp / 'replay.db'}")
        _fast_sqlite(engine)
        create_schema(engine)
        replayer = Replayer(settings, ReadModelStore(engine), SystemClock())
        result = replayer.run(replayer.end_offsets())
        engine.dispose()
    finally:
        admin = AdminClient(kafka_config.admin_config(settings))
        for future in admin.delete_topics(
            [topics.events, topics.timer_state, topics.queue_settings, topics.dead_records], operation_timeout=30
        ).values():
            try:
                future.result(30)
            except Exception as exc:  # best effort: a throwaway broker goes with its directory anyway
                print(f"could not delete a bench topic: {exc}")
    if result.records != written:
        raise RuntimeError(f"replayed {result.records} of {written} events")
    raw_rate, decode_rate = written / raw_s, written / decode_s
    detail: dict[str, Any] = {
        "events": written,
        "jobs": written // 3,
        "replay_seconds": round(result.seconds, 2),
        "consume_seconds": round(raw_s, 2),
        "consume_decode_seconds": round(decode_s, 2),
        "partitions": settings.partitions,
        "database": "SQLite (WAL, synchronous=OFF: a replay target is rebuilt, not kept safe)",
        "events_per_job": "JobPushed, JobDue, JobSucceeded",
    }
    full = written >= DEFAULT_EVENTS
    target = f"1,000,000 events in < {TARGET_SECONDS:.0f} s"
    figures = [
        Figure(
            "replay: events folded into SQLite per s",
            result.rate,
            "events/s",
            ceiling=raw_rate,
            ceiling_name="raw consume of the same topic",
            target=target,
            met=(result.seconds < TARGET_SECONDS) if full and not quick else None,
            detail=detail,
        ),
        Figure(
            "replay: consume + decode (no fold) per s",
            decode_rate,
            "events/s",
            ceiling=raw_rate,
            ceiling_name="raw consume of the same topic",
            detail=detail,
        ),
        Figure("replay: seconds for the whole log", result.seconds, "s", detail=detail),
    ]
    return figures, detail


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    events = args.events or (QUICK_EVENTS if args.quick else DEFAULT_EVENTS)
    with tempfile.TemporaryDirectory(prefix="chronohook-bench-replay-") as tmp:
        broker = None
        bootstrap = args.bootstrap
        if bootstrap is None:
            broker = LocalBroker(Path(tmp) / "kafka", port=free_port(), controller_port=free_port())
            broker.start()
            bootstrap = broker.bootstrap
        try:
            figures, _ = measure(bootstrap, events, Path(tmp), args.quick)
        finally:
            if broker is not None:
                broker.stop()
    command = COMMAND + (" --quick" if args.quick else "") + (f" --events {args.events}" if args.events else "")
    emit("replay", command, figures, quick=args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
