"""End to end on the real broker: records no service can read are set aside, delivery goes on, nothing restarts;
and the largest event the contract allows goes through the broker whole."""

from __future__ import annotations

import json
import secrets
import string
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer

from chronohook.kafka.config import consumer_config, producer_config
from chronohook.kafka.records import read_record, record_of
from chronohook.kafka.topics import ensure_topics
from chronohook.settings import Settings
from schemas import decode_event, encode_event
from schemas.dead_records import DeadRecord
from schemas.events import HttpRequestSpec, JobCreated
from schemas.topics import MAX_EVENT_BYTES, PARTITIONER
from tests.conftest import Stack
from tests.support.receiver import Receiver

PRECISION = 0.100  # seconds, as tests/integration/test_pipeline.py measures delivery

# Three records no service can read, each with the consumers that must set it aside: the timer skips JobDue by its
# header and the executor acts on JobDue (and CallbackDue) only, so each bad record meets two of the three.
POISON = [
    (b"{not json", b"JobCreated", {"timer", "projector"}),
    (json.dumps({"type": "JobExploded", "job_id": "p"}).encode(), b"JobExploded", {"timer", "projector"}),
    (b"\x00\xff garbage \xfe", b"JobDue", {"executor", "projector"}),
]  # fmt: skip


def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes, bytes]]) -> list[tuple[int, int]]:
    """Produce ``(key, value, type)`` records with a plain client; return each one's (partition, offset)."""
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": PARTITIONER, "acks": "all"})
    positions: dict[int, tuple[int, int]] = {}

    def report(index: int) -> Callable[[KafkaError | None, Message], None]:
        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            assert err is None, err
            partition, offset = msg.partition(), msg.offset()
            assert partition is not None and offset is not None
            positions[index] = (partition, offset)

        return on_delivery

    for index, (key, value, type_) in enumerate(records):
        producer.produce(topic, value, key=key, headers=[("type", type_)], on_delivery=report(index))
    assert producer.flush(30) == 0, "the broker did not take the records"
    return [positions[i] for i in range(len(records))]


def _incarnations(stack: Stack) -> dict[str, tuple[int | None, int]]:
    """Each service's pid and restart count; a service that died meanwhile shows another pid or count, or none."""
    return {
        name: (child.process.pid if child.process and child.process.poll() is None else None, child.restarts)
        for name, child in stack.supervisor.children.items()
    }


@pytest.fixture
def dead_records(stack: Stack) -> Iterator[Consumer]:
    """The dead-records topic from its start, as a fresh group sees it (committed records only)."""
    consumer = Consumer(
        {
            "bootstrap.servers": stack.settings.kafka_bootstrap,
            "group.id": f"poison-check-{secrets.token_hex(4)}",
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([stack.settings.topic("dead-records")])
    try:
        yield consumer
    finally:
        consumer.close()


def test_poison_records_are_set_aside_and_delivery_goes_on(
    stack: Stack, receiver: Receiver, dead_records: Consumer
) -> None:
    # Given every service running, and three records no service can read on the job log
    before = _incarnations(stack)
    tag = secrets.token_hex(4)
    events = stack.settings.topic("job-events")
    positions = _produce(
        stack.settings.kafka_bootstrap,
        events,
        [(f"poison-{tag}-{i}".encode(), value, type_) for i, (value, type_, _) in enumerate(POISON)],
    )

    # When an ordinary Recuro job is created after them
    with stack.client() as c:
        r = c.post("/api/jobs", json={"queue": "after-poison", "url": receiver.url(f"/after-poison-{tag}"), "delay": 1})
    assert r.status_code == 201, r.text

    # Then it is delivered on time: at the instant its answer promised (the next whole second after now + 1 s)
    [got] = receiver.wait_for(lambda q: q.path == f"/after-poison-{tag}", timeout=15)
    lateness = got.at - datetime.fromisoformat(r.json()["scheduled_at"]).timestamp()
    assert -0.01 <= lateness <= PRECISION, f"arrived {lateness * 1000:.1f} ms after due"

    # And each bad record is on the dead-records topic, as it came, once per consumer that could not read it
    wanted = {
        (partition, offset, consumer): value
        for (partition, offset), (value, _, consumers) in zip(positions, POISON, strict=True)
        for consumer in consumers
    }
    found: dict[tuple[int, int, str], DeadRecord] = {}
    deadline = time.monotonic() + 60
    while not wanted.keys() <= found.keys() and time.monotonic() < deadline:
        msg = dead_records.poll(0.5)
        if msg is None:
            continue
        record = read_record(msg)
        if record is None:
            continue
        info = DeadRecord.from_headers(record.headers)
        key = (info.source_partition, info.source_offset, info.consumer)
        if info.source_topic == events and key in wanted:
            assert record.value == wanted[key]
            found[key] = info
    assert wanted.keys() <= found.keys(), f"missing: {sorted(wanted.keys() - found.keys())}"
    for info in found.values():
        assert info.reason and info.dead_at <= datetime.now(UTC)

    # And no service restarted
    assert _incarnations(stack) == before


def test_an_event_of_the_largest_allowed_size_goes_through_the_broker_whole(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    # Given topics on a fresh prefix, and an event that encodes to exactly MAX_EVENT_BYTES of hard-to-compress text
    settings = Settings(data_dir=tmp_path, kafka_bootstrap=kafka_bootstrap, topic_prefix=f"size-{secrets.token_hex(4)}")
    topics = ensure_topics(settings)
    shell = JobCreated(
        event_id="evt_big", job_id="job_big", tenant="t1", occurred_at=datetime.now(UTC), api="quedup", name="big",
        request=HttpRequestSpec(method="POST", url="http://127.0.0.2:9/big", body=""),
    )  # fmt: skip
    alphabet = string.ascii_letters + string.digits
    body = "".join(secrets.choice(alphabet) for _ in range(MAX_EVENT_BYTES - len(encode_event(shell))))
    event = shell.model_copy(update={"request": shell.request.model_copy(update={"body": body})})
    assert len(encode_event(event)) == MAX_EVENT_BYTES

    # When it is produced with the services' producer settings and consumed with their consumer settings
    producer = Producer(producer_config(settings))
    key, value, headers = record_of(event)
    errors: list[KafkaError | None] = []
    producer.produce(topics.events, value, key=key, headers=headers, on_delivery=lambda err, _msg: errors.append(err))
    assert producer.flush(30) == 0 and errors == [None]
    consumer = Consumer(consumer_config(settings, f"size-check-{secrets.token_hex(4)}"))
    consumer.subscribe([topics.events])
    try:
        got = None
        deadline = time.monotonic() + 30
        while got is None and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            got = None if msg is None else read_record(msg)
    finally:
        consumer.close()

    # Then it comes back whole, the same event
    assert got is not None and got.value is not None
    assert len(got.value) == MAX_EVENT_BYTES
    assert decode_event(got.value) == event


def test_the_embedded_brokers_files_are_its_owners_alone(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Given the session's embedded broker (none when the suite runs against another broker)
    homes = [p for p in tmp_path_factory.getbasetemp().glob("kafka*") if (p / "server.properties").exists()]
    if not kafka_bootstrap or not homes:
        pytest.skip("the suite runs against a broker it did not start")

    # When its directory and everything the broker wrote in it are looked at
    home = homes[0]
    paths = [home, *home.rglob("*")]

    # Then the directory is closed to others, and no file or directory grants group or others anything
    assert home.stat().st_mode & 0o777 == 0o700
    open_to_others = [str(p) for p in paths if _mode(p) & 0o077]
    assert open_to_others == []


def _mode(path: Path) -> int:
    try:
        return path.stat().st_mode
    except FileNotFoundError:  # the broker removed it meanwhile (a rolled segment, a swap file)
        return 0
