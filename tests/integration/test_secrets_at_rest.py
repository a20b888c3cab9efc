"""Secrets at rest through the real stack (decision 0044): a job's Authorization header reaches the receiver in
clear, reads masked in every answer of both APIs, and is in clear nowhere the stack keeps data: not in any record of
any of its Kafka topics (the job log, the timer's changelog, the queue settings, the dead records), not in a
read-model table, not in the timer's files, not in a service's log."""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from sqlalchemy import select

from chronohook.ids import queue_id, recuro_job_key
from chronohook.kafka.config import admin_config, consumer_config, producer_config
from chronohook.kafka.records import record_of
from chronohook.kafka.topics import Topics
from chronohook.sealing import MASK
from chronohook.settings import Settings
from chronohook.store.engine import make_engine
from chronohook.store.tables import metadata
from schemas.events import HttpRequestSpec, JobPushed
from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import Received, Receiver

OFFSET_BEGINNING = -2


def _header(got: Received, name: str) -> str | None:
    return next((v for k, v in got.headers.items() if k.lower() == name.lower()), None)


def topic_bytes(settings: Settings, timeout: float = 30.0) -> dict[str, bytes]:
    """Every record (key, value and headers) of every topic of the stack's prefix, read to its end, as bytes."""
    admin = AdminClient(admin_config(settings))
    names = [t for t in admin.list_topics(timeout=10).topics if t.startswith(settings.topic_prefix + ".")]
    consumer = Consumer(
        consumer_config(settings, f"secrets-reader-{secrets.token_hex(4)}", **{"enable.partition.eof": True})
    )
    found: dict[str, bytearray] = {name: bytearray() for name in names}
    try:
        meta = admin.list_topics(timeout=10).topics
        parts = [TopicPartition(t, p, OFFSET_BEGINNING) for t in names for p in meta[t].partitions]
        consumer.assign(parts)
        at_end: set[tuple[str, int]] = set()
        deadline = time.monotonic() + timeout
        while len(at_end) < len(parts) and time.monotonic() < deadline:  # bounded: to each partition's end
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                assert error.code() == KafkaError._PARTITION_EOF, error
                at_end.add((msg.topic() or "", msg.partition() or 0))
                continue
            out = found[msg.topic() or ""]
            for part in (msg.key(), msg.value(), *(header[1] for header in msg.headers() or [])):
                out += part.encode() if isinstance(part, str) else (part or b"")
        assert len(at_end) == len(parts), f"read {len(at_end)} of {len(parts)} partitions to their end"
    finally:
        consumer.close()
    return {name: bytes(data) for name, data in found.items()}


def table_text(settings: Settings) -> dict[str, str]:
    """Every row of every read-model table, as text."""
    engine = make_engine(settings.resolved_database_url)
    try:
        with engine.connect() as conn:
            return {
                t.name: "\n".join(repr(tuple(row)) for row in conn.execute(select(t))) for t in metadata.sorted_tables
            }
    finally:
        engine.dispose()


def files_bytes(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_an_authorization_header_is_sent_clear_shown_masked_and_kept_sealed(stack: Stack, receiver: Receiver) -> None:
    tag = secrets.token_hex(4)
    quedup_secret = f"Bearer quedup-{secrets.token_hex(12)}"
    own_secret = f"sig-{secrets.token_hex(12)}"
    recuro_secret = f"Bearer recuro-{secrets.token_hex(12)}"
    cookie = f"sid={secrets.token_hex(12)}"
    with stack.client() as c:
        # Given a QuedUp job with an Authorization header and one of its own it calls sensitive
        r = c.post(
            "/jobs",
            json={
                "method": "POST", "name": f"secret-{tag}", "url": receiver.url(f"/secrets/{tag}/quedup"),
                "body": '{"n": 1}', "headers": {"Authorization": quedup_secret, "X-Sig": own_secret},
                "sensitive_headers": ["X-Sig"],
            },
        )  # fmt: skip
        assert r.status_code == 200, r.text
        quedup_id = r.json()["id"]
        # And a Recuro push with an Authorization header and a Cookie
        r = c.post(
            "/api/jobs",
            json={
                "queue": f"secrets-{tag}", "url": receiver.url(f"/secrets/{tag}/recuro"), "payload": {"n": 2},
                "headers": {"Authorization": recuro_secret, "Cookie": cookie},
            },
        )  # fmt: skip
        assert r.status_code == 201, r.text
        recuro_id = r.json()["job_id"]

        # When both are delivered
        [q] = receiver.wait_for(lambda g: g.path == f"/secrets/{tag}/quedup", timeout=60)
        [rc] = receiver.wait_for(lambda g: g.path == f"/secrets/{tag}/recuro", timeout=60)
        # Then the receiver got the clear values
        assert _header(q, "Authorization") == quedup_secret and _header(q, "X-Sig") == own_secret
        assert _header(rc, "Authorization") == recuro_secret and _header(rc, "Cookie") == cookie

        # And once the runs are recorded, every answer of both APIs shows them masked
        eventually(lambda: c.get(f"/jobs/{quedup_id}/runs").json() or None, timeout=60, what="the QuedUp run")
        eventually(lambda: c.get(f"/api/jobs/{recuro_id}/runs").json().get("data") or None, timeout=60, what="run")
        paths = [
            f"/jobs/{quedup_id}", "/jobs?limit=1000", f"/jobs/{quedup_id}/runs", f"/jobs/{quedup_id}/events",
            f"/api/jobs/{recuro_id}", f"/api/jobs/{recuro_id}/runs", f"/api/jobs/{recuro_id}/events",
        ]  # fmt: skip
        for path in paths:
            got = c.get(path)
            assert got.status_code == 200, (path, got.text)
            assert MASK in got.text, path
            for value in (quedup_secret, own_secret, recuro_secret, cookie):
                assert value not in got.text, (path, value)
        job = c.get(f"/jobs/{quedup_id}").json()
        assert job["headers"]["Authorization"] == MASK and job["headers"]["X-Sig"] == MASK
        [run] = c.get(f"/api/jobs/{recuro_id}/runs").json()["data"]
        assert run["request_headers"]["Authorization"] == MASK and run["request_headers"]["Cookie"] == MASK
        assert "webhook-signature" in run["request_headers"]  # the rest of what was sent reads as it was

    # And no clear value is in any record of any of the stack's topics (read as raw bytes)
    clear = (quedup_secret, own_secret, recuro_secret, cookie)
    values = [v.encode() for v in clear]
    topics = topic_bytes(stack.settings)
    assert any(name.endswith(".job-events") for name in topics)
    assert any(b"chs1:" in data for data in topics.values())  # the sealed values are there
    for name, data in topics.items():
        for needle in values:
            assert needle not in data, f"a clear value in {name}"
    # Nor in any read-model table
    for table, rows in table_text(stack.settings).items():
        for text in clear:
            assert text not in rows, f"a clear value in table {table}"
    # Nor in the timer's files or a service's log
    for path, data in (files_bytes(stack.data_dir / "timer") | files_bytes(stack.data_dir / "logs")).items():
        for needle in values:
            assert needle not in data, f"a clear value in {path}"


def test_an_event_written_before_sealing_still_delivers_and_reads_masked(stack: Stack, receiver: Receiver) -> None:
    # Given a Recuro push as ingest wrote it before decision 0044: a clear Authorization, no sensitive_headers field
    tag = secrets.token_hex(4)
    integer_id = 7_000_000_000_000 + int(tag, 16)
    key = recuro_job_key(integer_id)
    old_secret = f"Bearer before-sealing-{tag}"
    now = datetime.now(UTC)
    pushed = JobPushed(
        event_id=f"evt_old_{tag}", job_id=key, tenant="tenant-a", occurred_at=now, integer_id=integer_id,
        queue=f"old-{tag}", queue_id=queue_id("tenant-a", f"old-{tag}"), scheduled_at=now,
        request=HttpRequestSpec(
            method="POST", url=receiver.url(f"/secrets/{tag}/old"), headers={"Authorization": old_secret}
        ),
    )  # fmt: skip
    record_key, value, headers = record_of(pushed)
    doc = json.loads(value)
    del doc["request"]["sensitive_headers"]
    producer = Producer(producer_config(stack.settings))
    topic = Topics.from_settings(stack.settings).events
    producer.produce(topic, json.dumps(doc).encode(), key=record_key, headers=headers)
    assert producer.flush(30) == 0, "the broker did not take the record"
    # When the stack reads it, Then the receiver gets the clear value, sent as it is
    [got] = receiver.wait_for(lambda g: g.path == f"/secrets/{tag}/old", timeout=60)
    assert _header(got, "Authorization") == old_secret
    # And every answer about it shows the value masked
    with stack.client() as c:
        eventually(lambda: c.get(f"/api/jobs/{integer_id}/runs").json().get("data") or None, timeout=60, what="run")
        for path in (f"/api/jobs/{integer_id}", f"/api/jobs/{integer_id}/runs", f"/api/jobs/{integer_id}/events"):
            got_page = c.get(path)
            assert got_page.status_code == 200 and old_secret not in got_page.text and MASK in got_page.text, path
