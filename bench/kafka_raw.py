"""The Kafka-side ceiling: what the broker and confluent-kafka do with the project's own client settings.

``python -m bench.kafka_raw [--messages N] [--batch-size K] [--bootstrap HOST:PORT] [--quick]``

Starts a local broker (free ports, a temporary directory) unless ``--bootstrap`` names one, creates fresh
topics the way the services do (``ensure_topics``: the project's partition count and topic configuration), and
measures, with the client settings of ``chronohook/kafka/config.py`` (imported, not copied):

* **produce**: N records (default 200,000) of real ``JobCreated`` events (4,096 distinct ones, each encoded
  once with the project codec before the clock starts, sent in turn) as records like the services send
  (``record_of``: value, ``type`` header), each keyed by its own job-id-like key, so they spread over the
  partitions. Idempotent ``acks=all`` producer with a delivery
  callback per record (as ``AsyncEventProducer`` has); timed from the first ``produce()`` to the end of the
  final ``flush()``, after 2,000 uncounted warm-up records; only acknowledged records count (failures are
  printed and kept in the detail);
* **transactional produce**: the timer's mode: the same records through a transactional producer, a commit
  every K records (default 500; the timer also adds its consumed offsets, which this does not);
* **consume**: the produced records read back with the project's consumer config (``read_committed``) in
  ``consume(num_messages=...)`` batches from explicitly assigned partitions; timed from the first batch
  returned to the last record (the first batch's records are not counted, so connection and fetch start-up
  are left out);
* **consume + decode**: the same with every record read by ``read_record`` and decoded by the project codec:
  the Python-side cost per event against the broker.

These figures are themselves the ceiling for the services' Kafka traffic, so no ceiling is given. Every phase
is bounded by ``--max-seconds``; a phase cut short reports what it did and says so in its detail. The broker
and this process share the machine's cores (and with anything else running), so expect noise between runs.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from bench.toolkit.expect import BenchError, guarded
from bench.toolkit.report import Figure, emit
from bench.toolkit.stack import free_port
from chronohook.broker import LocalBroker
from chronohook.clock import SystemClock
from chronohook.ids import quedup_job_id, random_event_id
from chronohook.kafka import config as kafka_config
from chronohook.kafka.records import Headers, read_record, record_of
from chronohook.kafka.topics import ensure_topics
from chronohook.settings import Settings
from schemas import HttpRequestSpec, JobCreated, RetryPolicy, decode_event

COMMAND = "python -m bench.kafka_raw"
DEFAULT_MESSAGES = 200_000
QUICK_MESSAGES = 20_000
DEFAULT_TX_BATCH = 500
CONSUME_BATCH = 1_000
WARMUP = 2_000
# Distinct events, each encoded once and sent in turn: one value repeated would let lz4 shrink every batch to
# almost nothing, which no real traffic does.
DISTINCT_VALUES = 4_096
DEFAULT_MAX_SECONDS = 120.0


def sample_event(n: int, clock: SystemClock) -> JobCreated:
    """A QuedUp job as ingest writes it for a typical ``POST /api/jobs`` with a small JSON body."""
    invoice = 4242 + n
    return JobCreated(
        event_id=random_event_id(),
        job_id=quedup_job_id(clock),
        tenant="tok_3f9a1c2e",
        occurred_at=clock.now(),
        api="quedup",
        name=f"invoice-reminder-{invoice}",
        request=HttpRequestSpec(
            method="POST",
            url=f"https://billing.example.com/hooks/invoices/{invoice}/remind",
            headers={"Content-Type": "application/json", "X-Signature": "sha256=" + secrets.token_hex(32)},
            body=f'{{"event":"invoice.due","invoice_id":{invoice},"amount_cents":{129900 + n},"currency":"EUR"}}',
            timeout_seconds=30.0,
        ),
        run_at=datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
        callback_url="https://billing.example.com/hooks/chronohook-callback",
        retry=RetryPolicy(delays=(0, 300, 900, 3600, 10800, 21600)),
    )


class Delivered:
    """One delivery callback shared by every record: counts acknowledgements and failures."""

    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0
        self.first_error = ""

    def __call__(self, err: KafkaError | None, _msg: Message) -> None:
        if err is None:
            self.ok += 1
        else:
            self.failed += 1
            if not self.first_error:
                self.first_error = str(err)


def _produce_one(producer: Producer, topic: str, value: bytes, key: bytes, headers: Headers, cb: Delivered) -> None:
    while True:
        try:
            producer.produce(topic, value, key=key, headers=headers, on_delivery=cb)
            return
        except BufferError:
            producer.poll(0.005)  # the local queue is full: serve delivery reports until it drains


def produce_plain(
    settings: Settings, topic: str, records: Sequence[tuple[bytes, bytes]], headers: Headers, max_seconds: float
) -> dict[str, Any]:
    producer = Producer(kafka_config.producer_config(settings))
    # Uncounted warm-up: connected, producer id acquired, the broker's code paths compiled before the clock starts.
    warm = Delivered()
    for key, value in records[:WARMUP]:
        _produce_one(producer, topic, value, b"warm-" + key, headers, warm)
    producer.flush(30)
    if warm.failed or warm.ok < min(WARMUP, len(records)):
        raise RuntimeError(f"the warm-up records were not acknowledged: {warm.first_error or 'timed out'}")
    cb = Delivered()
    deadline = time.monotonic() + max_seconds
    sent = 0
    start = time.perf_counter()
    for key, value in records:
        _produce_one(producer, topic, value, key, headers, cb)
        sent += 1
        if sent % 1_000 == 0:
            producer.poll(0)
            if time.monotonic() > deadline:
                break
    remaining = producer.flush(max(1.0, deadline - time.monotonic()))
    seconds = time.perf_counter() - start
    return {
        "warmup": warm.ok,
        "sent": sent,
        "acked": cb.ok,
        "failed": cb.failed,
        "unflushed": remaining,
        "first_error": cb.first_error,
        "seconds": seconds,
        "cut_short": sent < len(records) or remaining > 0,
    }


def produce_transactional(
    settings: Settings,
    topic: str,
    records: Sequence[tuple[bytes, bytes]],
    headers: Headers,
    batch: int,
    max_seconds: float,
) -> dict[str, Any]:
    producer = Producer(kafka_config.transactional_producer_config(settings, f"{topic}.bench.{secrets.token_hex(4)}"))
    producer.init_transactions(30)  # one-off, as at the timer's start: not timed
    warm = Delivered()
    producer.begin_transaction()
    for key, value in records[:WARMUP]:
        _produce_one(producer, topic, value, b"warm-" + key, headers, warm)
    producer.commit_transaction(30)
    cb = Delivered()
    deadline = time.monotonic() + max_seconds
    sent = commits = 0
    start = time.perf_counter()
    for i in range(0, len(records), batch):
        producer.begin_transaction()
        for key, value in records[i : i + batch]:
            _produce_one(producer, topic, value, key, headers, cb)
        producer.commit_transaction(30)  # flushes, then writes the commit markers
        sent += len(records[i : i + batch])
        commits += 1
        if time.monotonic() > deadline:
            break
    seconds = time.perf_counter() - start
    producer.flush(5)
    return {
        "sent": sent,
        "acked": cb.ok,
        "failed": cb.failed,
        "first_error": cb.first_error,
        "commits": commits,
        "seconds": seconds,
        "cut_short": sent < len(records),
    }


def consume_all(
    settings: Settings,
    topic: str,
    partitions: int,
    expected: int,
    handle: Callable[[Message], None],
    max_seconds: float,
) -> dict[str, Any]:
    consumer = Consumer(kafka_config.consumer_config(settings, f"{topic}.bench.{secrets.token_hex(4)}"))
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        deadline = time.monotonic() + max_seconds
        seen = 0
        first_batch = 0
        start = 0.0
        while seen < expected and time.monotonic() < deadline:
            msgs = consumer.consume(num_messages=CONSUME_BATCH, timeout=1.0)
            if not msgs:
                continue
            if not start:
                start, first_batch = time.perf_counter(), len(msgs)
            for msg in msgs:
                handle(msg)
            seen += len(msgs)
        seconds = time.perf_counter() - start if start else 0.0
    finally:
        consumer.close()
    return {
        "read": seen,
        "counted": seen - first_batch,
        "first_batch": first_batch,
        "seconds": seconds,
        "cut_short": seen < expected,
    }


def _check_raw(msg: Message) -> None:
    err = msg.error()
    if err is not None:
        raise RuntimeError(f"consume failed: {err}")


def _decode(msg: Message) -> None:
    record = read_record(msg)
    if record is None or record.value is None:
        raise RuntimeError("an end-of-partition notice or an empty record where an event was expected")
    decode_event(record.value)


def run(bootstrap: str, messages: int, batch: int, max_seconds: float) -> list[Figure]:
    settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=f"bench-raw-{secrets.token_hex(4)}")
    tx_settings = settings.model_copy(update={"topic_prefix": settings.topic_prefix + "-tx"})
    plain_topic = ensure_topics(settings).events
    tx_topic = ensure_topics(tx_settings).events
    try:
        return _measure(settings, tx_settings, plain_topic, tx_topic, messages, batch, max_seconds)
    finally:
        # On a broker that is not ours, leave nothing behind.
        admin = AdminClient(kafka_config.admin_config(settings))
        doomed = [plain_topic, tx_topic, *[s.topic("timer-state") for s in (settings, tx_settings)]]
        for future in admin.delete_topics(doomed, operation_timeout=30).values():
            try:
                future.result(30)
            except Exception as exc:  # best effort: a throwaway broker is deleted with its directory anyway
                print(f"could not delete a bench topic: {exc}", file=sys.stderr)


def _measure(
    settings: Settings,
    tx_settings: Settings,
    plain_topic: str,
    tx_topic: str,
    messages: int,
    batch: int,
    max_seconds: float,
) -> list[Figure]:
    clock = SystemClock()
    pool = [record_of(sample_event(n, clock)) for n in range(min(DISTINCT_VALUES, messages))]
    headers = pool[0][2]
    values = [value for _, value, _ in pool]
    records = [(quedup_job_id(clock).encode(), values[i % len(values)]) for i in range(messages)]
    key_bytes = len(records[0][0])
    value_bytes = sum(len(v) for v in values) / len(values)
    header_bytes = sum(len(name) + len(v or b"") for name, v in headers)
    record_bytes = value_bytes + key_bytes
    partitions = settings.partitions
    # Written into the result file: no password (redacted).
    producer_settings = kafka_config.redacted(kafka_config.producer_config(settings))
    producer_settings.pop("bootstrap.servers")
    consumer_settings = kafka_config.redacted(kafka_config.consumer_config(settings, "-"))
    for name in ("bootstrap.servers", "group.id"):
        consumer_settings.pop(name)
    common = {
        "messages": messages,
        "value_bytes": round(value_bytes, 1),
        "distinct_values": len(values),
        "key_bytes": key_bytes,
        "header_bytes": header_bytes,
        "event": "JobCreated (quedup, JSON body, 6 retry delays)",
        "partitions": partitions,
        "mb": "1e6 bytes of key + value, before compression",
    }

    print(f"producing {messages:,} records of {record_bytes:.0f} bytes (key + value) to {partitions} partitions ...")
    plain = produce_plain(settings, plain_topic, records, headers, max_seconds)
    if plain["failed"] or plain["unflushed"] or not plain["acked"]:
        raise BenchError(
            f"produce: {plain['acked']} acknowledged, {plain['failed']} failed, {plain['unflushed']} unflushed: "
            f"{plain['first_error']}"
        )
    print(f"transactional produce, a commit every {batch} records ...")
    tx = produce_transactional(tx_settings, tx_topic, records, headers, batch, max_seconds)
    if tx["failed"] or tx["acked"] != tx["sent"]:
        raise BenchError(
            f"transactional produce: {tx['acked']} of {tx['sent']} acknowledged, {tx['failed']} failed: "
            f"{tx['first_error']}"
        )
    print("consume ...")
    total = plain["warmup"] + plain["acked"]
    raw = consume_all(settings, plain_topic, partitions, total, _check_raw, max_seconds)
    print("consume + decode ...")
    dec = consume_all(settings, plain_topic, partitions, total, _decode, max_seconds)
    for name, read in (("consume", raw), ("consume + decode", dec)):
        if read["counted"] <= 0:
            raise BenchError(f"{name}: read {read['read']} of {total} records, too few to time")

    def per_s(count: int, seconds: float) -> float:
        return count / seconds if seconds > 0 else 0.0

    plain_rate = per_s(plain["acked"], plain["seconds"])
    tx_rate = per_s(tx["acked"], tx["seconds"])
    raw_rate = per_s(raw["counted"], raw["seconds"])
    dec_rate = per_s(dec["counted"], dec["seconds"])
    produce_detail = common | plain | {"producer_config": producer_settings}
    tx_detail = common | tx | {"commit_every": batch, "producer_config": producer_settings | {"transactional": True}}
    consume_detail = common | {"consumer_config": consumer_settings, "batch": CONSUME_BATCH}
    return [
        Figure("Kafka produce, idempotent acks=all", plain_rate, "msgs/s", detail=produce_detail),
        Figure(
            "Kafka produce, idempotent acks=all (MB/s)", plain_rate * record_bytes / 1e6, "MB/s", detail=produce_detail
        ),
        Figure(f"Kafka produce, transactional, commit every {batch}", tx_rate, "msgs/s", detail=tx_detail),
        Figure(
            f"Kafka produce, transactional, commit every {batch} (MB/s)",
            tx_rate * record_bytes / 1e6,
            "MB/s",
            detail=tx_detail,
        ),
        Figure("Kafka consume, read_committed", raw_rate, "msgs/s", detail=consume_detail | raw),
        Figure("Kafka consume + read_record + decode_event", dec_rate, "msgs/s", detail=consume_detail | dec),
        Figure(
            "Python decode cost per event (consume+decode vs consume)",
            (1 / dec_rate - 1 / raw_rate) * 1e6 if dec_rate and raw_rate else 0.0,
            "us/event",
            detail={"consume_msgs_per_s": raw_rate, "consume_decode_msgs_per_s": dec_rate},
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    return guarded(lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=DEFAULT_MESSAGES, help="records per phase")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_TX_BATCH, help="records per transaction")
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_SECONDS, help="time cap per phase")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_MESSAGES:,} records, 30 s cap per phase")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.max_seconds = min(args.messages, QUICK_MESSAGES), min(args.max_seconds, 30.0)
    if args.messages < 1 or args.batch_size < 1:
        parser.error("--messages and --batch-size must be positive")
    if args.bootstrap:
        figures = run(args.bootstrap, args.messages, args.batch_size, args.max_seconds)
    else:
        with tempfile.TemporaryDirectory(prefix="chronohook-bench-kafka-raw-") as tmp:
            broker = LocalBroker(Path(tmp) / "kafka", port=free_port(), controller_port=free_port())
            broker.start()
            try:
                figures = run(broker.bootstrap, args.messages, args.batch_size, args.max_seconds)
            finally:
                broker.stop()
    emit("kafka_raw", COMMAND, figures, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
