"""Recuro's cron alerts end to end on the session stack: a cron with ``alert_threshold: 2`` against a target that
fails twice, then succeeds, sends ``warning``, ``failure`` and ``recovery`` to the tenant's alert destination, each
POST signed (Standard Webhooks, verified with the ``standardwebhooks`` package and the secret from
``GET /api/signing-secret``), and ``GET /api/alerts`` lists them.

The cron here is written straight to the job log, with a 6-field, every-2-seconds expression (seconds first, as
the API takes it since decision 0025), to stay bounded in time.
Everything after that is the real path: timer, executor, projector, ingest.

A queue patched to ``alerts_enabled: true, retries_enabled: false`` alerts through the API alone: a job whose
receiver answers 500 ends ``failed_no_retries`` and raises ``failure``; the next job, answered 200, ``recovery``.
Each is counted by the timer owning the queue's key (``queue:<tenant>:<queue_id>``), wherever the job's partition.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from confluent_kafka import Producer
from standardwebhooks import Webhook

from chronohook.ids import recuro_cron_key
from chronohook.kafka.config import producer_config
from chronohook.kafka.records import record_of
from chronohook.kafka.topics import Topics
from schemas.events import Envelope, HttpRequestSpec, JobCreated, JobDeleted
from tests.conftest import Stack
from tests.integration.test_callbacks import ScriptedReceiver
from tests.support.polling import eventually

TENANT = "tenant-a"  # the stack's default token's tenant


@pytest.fixture
def target() -> Iterator[ScriptedReceiver]:
    r = ScriptedReceiver([500, 500])  # fails twice, then answers 200
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def alert_sink() -> Iterator[ScriptedReceiver]:
    r = ScriptedReceiver([])
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def queue_target() -> Iterator[ScriptedReceiver]:
    r = ScriptedReceiver([500])  # fails once, then answers 200
    try:
        yield r
    finally:
        r.close()


def _produce(stack: Stack, event: Envelope) -> None:
    producer = Producer(producer_config(stack.settings))
    key, value, headers = record_of(event)
    producer.produce(Topics.from_settings(stack.settings).events, value, key=key, headers=headers)
    assert producer.flush(10) == 0


def test_a_cron_with_threshold_2_sends_warning_failure_then_recovery_signed(
    stack: Stack, target: ScriptedReceiver, alert_sink: ScriptedReceiver
) -> None:
    # Given tenant A's alert destination and its signing secret
    with stack.client() as a:
        r = a.put("/api/alert-destination", json={"url": alert_sink.url("/alerts"), "format": "json"})
        assert r.status_code == 200, r.text
        eventually(lambda: a.get("/api/alert-destination").status_code == 200, what="the destination projected")
        secret = a.get("/api/signing-secret").json()["secret"]
    # And a cron with alert_threshold 2, every 2 s, against a target that fails twice, then succeeds
    cron_id = 7_000_000 + secrets.randbelow(1_000_000)
    cron = JobCreated(
        event_id=f"evt_{secrets.token_hex(12)}",
        job_id=recuro_cron_key(cron_id),
        tenant=TENANT,
        occurred_at=datetime.now(UTC),
        api="recuro_cron",
        name="alerting",
        request=HttpRequestSpec(method="POST", url=target.url("/cron"), body="{}"),
        schedule="*/2 * * * * *",
        integer_id=cron_id,
        alert_threshold=2,
    )

    # When it runs
    _produce(stack, cron)
    try:
        posts = alert_sink.received(3, timeout=60)
        # Then the destination got warning, failure and recovery, in that order, about this cron
        bodies = [json.loads(p.body) for p in posts[:3]]
        assert [b["kind"] for b in bodies] == ["warning", "failure", "recovery"]
        assert all(b["cron_id"] == cron_id and b["alert_threshold"] == 2 for b in bodies)
        assert [b["consecutive_failures"] for b in bodies] == [1, 2, 0]
        assert bodies[0]["run"]["status_code"] == 500 and bodies[0]["run"]["failure_reason"] == "http_server_error"
        # And each POST is signed: its webhook-id is the alert's id, and the signature verifies with the tenant's secret
        for post, body in zip(posts[:3], bodies, strict=True):
            headers = {k.lower(): v for k, v in post.headers.items()}
            assert headers["webhook-id"] == body["alert_id"] == headers["x-chronohook-alert-id"]
            Webhook(secret).verify(post.body, headers)
        # And GET /api/alerts lists the three, newest first, delivered
        with stack.client() as a:

            def listed() -> list[dict[str, object]] | None:
                data: list[dict[str, object]] = a.get("/api/alerts", params={"cron_id": cron_id}).json()["data"]
                done = len(data) == 3 and all(x["delivery_status"] == "delivered" for x in data)
                return data if done else None

            data = eventually(listed, what="three delivered alerts listed")
        assert [x["kind"] for x in data] == ["recovery", "failure", "warning"]
    finally:
        # Deleted after the checks: a cron goes with its history, alerts included.
        gone = JobDeleted(
            event_id=f"evt_{secrets.token_hex(12)}", job_id=cron.job_id, tenant=TENANT, occurred_at=datetime.now(UTC)
        )
        _produce(stack, gone)


def test_a_queue_with_alerts_enabled_sends_failure_then_recovery_on_final_outcomes(
    stack: Stack, queue_target: ScriptedReceiver, alert_sink: ScriptedReceiver
) -> None:
    # Given tenant B's alert destination and its signing secret (B's: the executor reads a tenant's destination at
    # most 2 s old, and A's last one, from the test above, may be on a port a receiver of this test reuses)
    with stack.client(stack.other_token) as a:
        r = a.put("/api/alert-destination", json={"url": alert_sink.url("/queue-alerts"), "format": "json"})
        assert r.status_code == 200, r.text
        eventually(
            lambda: a.get("/api/alert-destination").json().get("url") == alert_sink.url("/queue-alerts"),
            what="the destination projected",
        )
        secret = a.get("/api/signing-secret").json()["secret"]
        # And a queue with alerts on and retries off
        queue = f"alerting-{secrets.token_hex(4)}"
        r = a.patch(f"/api/queues/{queue}", json={"alerts_enabled": True, "retries_enabled": False})
        assert r.status_code == 200, r.text
        assert r.json()["alerts_enabled"] is True
        queue_id = r.json()["id"]

        # When a job of it gets a 500 from its receiver
        failing = a.post("/api/jobs", json={"queue": queue, "url": queue_target.url("/q/1"), "payload": {"n": 1}})
        assert failing.status_code == 201, failing.text
        failing_id = failing.json()["job_id"]

        # Then the destination gets a failure alert about the queue and that job
        first = alert_sink.received(1, timeout=60)[0]
        failure = json.loads(first.body)
        assert (failure["kind"], failure["queue"], failure["queue_id"], failure["cron_id"]) == (
            "failure",
            queue,
            queue_id,
            None,
        )
        assert (failure["job_id"], failure["consecutive_failures"], failure["alert_threshold"]) == (
            f"rj_{failing_id}",
            1,
            1,
        )
        assert failure["run"]["status_code"] == 500 and failure["run"]["failure_reason"] == "http_server_error"
        eventually(
            lambda: a.get(f"/api/jobs/{failing_id}").json()["final_status"] == "failed_no_retries",
            what="the failing job ends failed_no_retries",
        )

        # When the next job of the queue succeeds
        ok = a.post("/api/jobs", json={"queue": queue, "url": queue_target.url("/q/2"), "payload": {"n": 2}})
        assert ok.status_code == 201, ok.text

        # Then the destination gets a recovery, and nothing else
        posts = alert_sink.received(2, timeout=60)
        recovery = json.loads(posts[1].body)
        assert (recovery["kind"], recovery["queue"], recovery["consecutive_failures"]) == ("recovery", queue, 0)
        assert recovery["job_id"] == f"rj_{ok.json()['job_id']}"
        # And each POST is signed, its webhook-id the alert's id
        for post, body in zip(posts[:2], (failure, recovery), strict=True):
            headers = {k.lower(): v for k, v in post.headers.items()}
            assert headers["webhook-id"] == body["alert_id"] == headers["x-chronohook-alert-id"]
            Webhook(secret).verify(post.body, headers)

        # And GET /api/alerts?queue= lists the two, newest first, delivered
        def listed() -> list[dict[str, object]] | None:
            data: list[dict[str, object]] = a.get("/api/alerts", params={"queue": queue}).json()["data"]
            done = len(data) == 2 and all(x["delivery_status"] == "delivered" for x in data)
            return data if done else None

        data = eventually(listed, what="two delivered queue alerts listed")
    assert [(x["kind"], x["queue"], x["cron_id"]) for x in data] == [
        ("recovery", queue, None),
        ("failure", queue, None),
    ]
    assert len(alert_sink.requests) == 2
