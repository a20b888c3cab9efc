"""Versioned events on the real broker: JobDeadLettered records as a version-1 timer wrote them (``retries_enabled``,
built from the frozen v1 model) sit in the job log beside version-2 ones from today's timer (``final_status``), and
every reader takes both: the projector folds them (GET, the dead-letter list), the timer purges a v1 dead letter at
its ``purge_at``, the executor delivers the jobs around them, nothing is set aside, and a replay of the log folds
them the same way."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, Producer, TopicPartition

from chronohook.clock import SystemClock
from chronohook.ids import recuro_job_key
from chronohook.kafka.config import producer_config
from chronohook.kafka.records import record_of
from chronohook.kafka.topics import Topics
from chronohook.readmodel.dead_letters import list_dead_letters
from chronohook.readmodel.store import ReadModelStore
from chronohook.store.engine import create_schema, make_engine
from schemas.events import Envelope, HttpRequestSpec, JobFailed, JobPushed, RetryPolicy, RunOutcome
from schemas.legacy import JobDeadLetteredV1
from schemas.topics import TYPE_HEADER
from services.projector.replay import NoProgress, Replayer
from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import Receiver

TENANT = "tenant-a"  # the stack's token's tenant


def _patch_queue(c: httpx.Client, name: str, settings: dict[str, Any]) -> int:
    r = c.patch(f"/api/queues/{name}", json=settings)
    assert r.status_code == 200, r.text
    queue_id: int = r.json()["id"]
    return queue_id


def _v1_history(
    integer_id: int,
    queue: str,
    queue_id: int,
    url: str,
    at: datetime,
    *,
    retries_enabled: bool,
    purge_at: datetime | None,
) -> list[Envelope]:
    """A Recuro job's life as version-1 services wrote it: pushed, failed with a 503, then the v1 timer's
    JobDeadLettered (the frozen v1 model). The other types are at version 1 today too: written as they were. Its
    JobDue is left out: today's executor would send any JobDue it reads again (it keeps no state)."""
    key = recuro_job_key(integer_id)
    run_id = f"{key}:{int(at.timestamp() * 1000)}:1"
    request = HttpRequestSpec(method="POST", url=url, body='{"v":1}')

    def env(n: int, when: datetime) -> dict[str, Any]:
        return {"event_id": f"evt_{integer_id:016x}{n:08x}", "job_id": key, "tenant": TENANT, "occurred_at": when}

    outcome = RunOutcome(
        run_id=run_id, attempt=1, due_at=at, started_at=at, finished_at=at + timedelta(milliseconds=20),
        duration_ms=20.0, request_headers={}, request_body='{"v":1}', response_status=503, response_body="no",
    )  # fmt: skip
    return [
        JobPushed(
            **env(1, at), integer_id=integer_id, queue=queue, queue_id=queue_id, request=request,
            payload={"v": 1}, scheduled_at=at, retry=RetryPolicy(delays=()),
        ),
        JobFailed(**env(3, outcome.finished_at), outcome=outcome, failure_reason="http_server_error"),
        JobDeadLetteredV1(
            **env(4, outcome.finished_at), failed_run_id=run_id, attempts=1, retries_enabled=retries_enabled,
            purge_at=purge_at,
        ),
    ]  # fmt: skip


def _produce(stack: Stack, events: list[Envelope]) -> dict[bytes, list[tuple[int, int]]]:
    """Produce the events as raw records (key, encoded value, type header); key -> their (partition, offset)s."""
    producer = Producer(producer_config(stack.settings))
    placed: dict[bytes, list[tuple[int, int]]] = {}

    def delivered(err: KafkaError | None, msg: Message) -> None:
        assert err is None, err
        key, partition, offset = msg.key(), msg.partition(), msg.offset()
        assert key is not None and partition is not None and offset is not None
        placed.setdefault(key, []).append((partition, offset))

    for event in events:
        key, value, headers = record_of(event)
        producer.produce(
            Topics.from_settings(stack.settings).events, value, key=key, headers=headers, on_delivery=delivered
        )
    assert producer.flush(30) == 0, "the broker did not take the records"
    return placed


def _wait_for_record(stack: Stack, partition: int, start: int, key: str, type_name: str, timeout: float) -> None:
    """Return once the job log holds a committed ``type_name`` record for ``key`` at or after ``start``."""
    consumer = Consumer(
        {
            "bootstrap.servers": stack.settings.kafka_bootstrap,
            "group.id": f"versions-wait-{secrets.token_hex(4)}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.assign([TopicPartition(Topics.from_settings(stack.settings).events, partition, start)])
        deadline = time.monotonic() + timeout
        while True:
            assert time.monotonic() < deadline, f"no {type_name} for {key} in the job log within {timeout} s"
            msg = consumer.poll(0.2)
            if msg is None or msg.error() is not None or msg.key() != key.encode():
                continue
            if (TYPE_HEADER, type_name.encode()) in (msg.headers() or []):
                return
    finally:
        consumer.close()


@pytest.fixture
def dead_records(stack: Stack) -> Iterator[Consumer]:
    consumer = Consumer(
        {
            "bootstrap.servers": stack.settings.kafka_bootstrap,
            "group.id": f"versions-check-{secrets.token_hex(4)}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    try:
        yield consumer
    finally:
        consumer.close()


def _dead_record_keys(consumer: Consumer, topic: str, timeout: float = 10.0) -> set[bytes]:
    """The keys of every record on the dead-records topic up to its end now."""
    metadata = consumer.list_topics(topic, timeout=timeout).topics[topic]
    partitions = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions]
    ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=timeout)[1] for tp in partitions}
    consumer.assign(partitions)
    keys: set[bytes] = set()
    deadline = time.monotonic() + timeout

    def at_end() -> bool:
        positions = consumer.position([TopicPartition(topic, p) for p in ends])
        return all(ends[tp.partition] == 0 or tp.offset >= ends[tp.partition] for tp in positions)

    while not at_end():
        assert time.monotonic() < deadline, "the dead-records topic was not read to its end"
        msg = consumer.poll(0.2)
        key = None if msg is None or msg.error() is not None else msg.key()
        if key is not None:
            keys.add(key)
    return keys


def test_v1_and_v2_dead_letters_are_read_alike_by_every_service_and_replay(
    stack: Stack, receiver: Receiver, dead_records: Consumer, tmp_path: Any
) -> None:
    tag = secrets.token_hex(4)
    with stack.client() as c:
        # Given a held queue (paused: this stack has no v1 timer state, so the v1 histories' jobs must not be handed
        # out again) and a live queue with retries off
        held, live = f"v1-held-{tag}", f"v2-live-{tag}"
        held_id = _patch_queue(c, held, {"is_active": False})
        _patch_queue(c, live, {"retries_enabled": False})
        eventually(lambda: c.get(f"/api/queues/{held}").json().get("is_active") is False, what="the held queue")

        # When version-1 histories are written to the job log, interleaved with a job today's services run: a dead
        # letter kept 14 days, one whose retention ends in 3 s, one that failed with retries off (no dead letter)
        now = datetime.now(UTC)
        at = now + timedelta(seconds=2)  # falls due only after the pause has reached the timer
        base = secrets.randbelow(2**40) * 64 + 2**50
        kept, purged, no_retries = base, base + 1, base + 2
        url = receiver.url(f"/v1-history/{tag}")
        first = _v1_history(kept, held, held_id, url, at, retries_enabled=True, purge_at=now + timedelta(days=14))
        placed = _produce(stack, first)
        r = c.post("/api/jobs", json={"queue": live, "url": receiver.url(f"/status/500/v2-{tag}")})
        assert r.status_code == 201, r.text
        v2_job: int = r.json()["job_id"]
        rest = _v1_history(purged, held, held_id, url, at, retries_enabled=True, purge_at=now + timedelta(seconds=3))
        rest += _v1_history(no_retries, held, held_id, url, at, retries_enabled=False, purge_at=None)
        placed |= _produce(stack, rest)

        # Then the executor delivered today's job once, and today's timer ended it with a v2 dead letter
        receiver.wait_for(lambda q: q.path == f"/status/500/v2-{tag}", timeout=15)

        def job(integer_id: int) -> dict[str, Any] | None:
            r = c.get(f"/api/jobs/{integer_id}")
            return r.json() if r.status_code == 200 else None

        assert eventually(lambda: (j := job(v2_job)) and j["final_status"] == "failed_no_retries" and j)
        # And the projector folded each v1 dead letter as its v2 meaning: dead_lettered and listed, or
        # failed_no_retries and not listed
        assert eventually(lambda: (j := job(kept)) and j["final_status"] == "dead_lettered" and j)
        assert eventually(lambda: (j := job(no_retries)) and j["final_status"] == "failed_no_retries" and j)
        listed = c.get("/api/dead-letters", params={"queue": held}).json()["data"]
        assert kept in {d["job_id"] for d in listed} and no_retries not in {d["job_id"] for d in listed}
        # And the timer read the v1 purge_at: that dead letter is purged when its retention ends (a 404 alone could
        # be the projector not having folded the job yet, so the purge is looked for in the log itself)
        (partition, first_offset), *_ = placed[recuro_job_key(purged).encode()]
        _wait_for_record(stack, partition, first_offset, recuro_job_key(purged), "JobPurged", timeout=15)
        eventually(lambda: c.get(f"/api/jobs/{purged}").status_code == 404, timeout=15, what="the v1 purge")
        # And no job of the held queue was handed out again
        assert receiver.matching(lambda q: q.path == f"/v1-history/{tag}") == []

    # And no service set any of these records aside
    ours = {recuro_job_key(i).encode() for i in (kept, purged, no_retries, v2_job)}
    assert not ours & _dead_record_keys(dead_records, Topics.from_settings(stack.settings).dead_records)

    # And a replay of the log (services/projector/replay.py) folds the v1 records as the projector did
    engine = make_engine(f"sqlite:///{tmp_path}/replay.db")
    try:
        create_schema(engine)
        replayer = Replayer(stack.settings, ReadModelStore(engine), SystemClock(), NoProgress())
        result = replayer.run(replayer.end_offsets())
        mine = {(p, o) for positions in placed.values() for p, o in positions}
        assert not [s for s in result.set_aside if (s.partition, s.offset) in mine], result.set_aside
        store = ReadModelStore(engine)
        assert (view := store.job(TENANT, recuro_job_key(kept))) and view.final_status == "dead_lettered"
        assert (view := store.job(TENANT, recuro_job_key(no_retries))) and view.final_status == "failed_no_retries"
        letters, _ = list_dead_letters(engine, TENANT, held_id, 15, 0)
        assert [letter.job_id for letter in letters] == [recuro_job_key(kept)]
    finally:
        engine.dispose()
