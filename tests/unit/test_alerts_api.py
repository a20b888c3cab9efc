"""Alerts through the ingest API (TestClient, in-memory log, SQLite in tmp_path): the alert destination's set, read
and clear as events, its validation, and ``GET /api/alerts`` folded from the alert events, tenant-scoped."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from chronohook.clock import FixedClock
from chronohook.kafka.log import InMemoryEventLog
from chronohook.readmodel.store import PROJECTOR_CONSUMER, Consumed
from chronohook.settings import Settings
from chronohook.store.tables import jobs
from chronohook.store.tokens import create_token
from schemas.codec import decode_event
from schemas.events import (
    Alert,
    AlertDelivered,
    AlertDestinationSet,
    AlertDue,
    AlertRaised,
    Envelope,
    Event,
    JobCreated,
    JobDeleted,
    QueueOutcome,
)
from schemas.topics import queue_settings_key
from services.ingest.app import build_context, create_app
from services.ingest.context import IngestContext

NOW = datetime(2026, 4, 10, 14, 5, 0, tzinfo=UTC)
HOOK = "https://alerts.example.com/hook"


@dataclass
class Api:
    client: TestClient
    ctx: IngestContext
    log: InMemoryEventLog
    t1: dict[str, str]
    t2: dict[str, str]

    def events(self) -> list[Event]:
        return [decode_event(value) for _, value, _ in self.log.records]

    def project(self, extra: list[Envelope] = ()) -> None:  # type: ignore[assignment]
        """Fold the log (and ``extra`` events, as if the timer had decided them) into the read model."""
        records = [decode_event(value) for _, value, _ in self.log.records]
        batch = [Consumed(self.ctx.topic, 0, i, e) for i, e in enumerate(records)]
        batch += [Consumed("decided", 0, i, decode_event(e.model_dump_json().encode())) for i, e in enumerate(extra)]
        self.ctx.store.apply(PROJECTOR_CONSUMER, batch, NOW)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    # Given an ingest app on a fixed clock, an in-memory log and tokens for tenants t1 and t2
    log = InMemoryEventLog()
    ctx = build_context(Settings(data_dir=tmp_path), FixedClock(NOW), log=log)
    t1, t2 = create_token(ctx.engine, "t1"), create_token(ctx.engine, "t2")
    with TestClient(create_app(ctx)) as client:
        yield Api(client, ctx, log, {"Authorization": f"Bearer {t1}"}, {"Authorization": f"Bearer {t2}"})


def test_the_destination_is_set_read_and_cleared_as_events(api: Api) -> None:
    # When t1 sets a Slack destination
    r = api.client.put("/api/alert-destination", json={"url": HOOK, "format": "slack"}, headers=api.t1)

    # Then it is one AlertDestinationSet event, keyed by the tenant's destination key, and reads back once projected
    assert r.status_code == 200, r.text
    assert r.json()["url"] == HOOK and r.json()["format"] == "slack"
    (event,) = api.events()
    assert isinstance(event, AlertDestinationSet) and event.job_id == "alert-destination:t1" and event.tenant == "t1"
    api.project()
    got = api.client.get("/api/alert-destination", headers=api.t1)
    assert got.status_code == 200 and got.json()["url"] == HOOK and got.json()["format"] == "slack"
    # And t2 has none
    assert api.client.get("/api/alert-destination", headers=api.t2).status_code == 404

    # When t1 deletes it
    assert api.client.delete("/api/alert-destination", headers=api.t1).status_code == 204
    api.project()

    # Then there is none any more
    assert api.client.get("/api/alert-destination", headers=api.t1).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://10.0.0.1/hook"}, "url"),  # a private address: the egress rules of job URLs (judged, not sent)
        ({"url": "ftp://example.com/x"}, "url"),
        ({}, "url"),
        ({"url": HOOK, "format": "discord"}, "format"),
    ],
)
def test_a_bad_destination_is_a_laravel_422(api: Api, body: dict[str, str], field: str) -> None:
    # When a destination the rules refuse is set
    r = api.client.put("/api/alert-destination", json=body, headers=api.t1)

    # Then it is a 422 in Laravel's shape naming the field, and nothing is published
    assert r.status_code == 422, r.text
    assert field in r.json()["errors"] and isinstance(r.json()["message"], str)
    assert api.events() == []


def test_a_crons_alert_threshold_reaches_its_event(api: Api) -> None:
    # When a cron is created with alert_threshold 2
    body = {"name": "n", "url": "https://example.com/x", "cron_expression": "* * * * *", "alert_threshold": 2}
    assert api.client.post("/api/crons", json=body, headers=api.t1).status_code == 201

    # Then its JobCreated carries the threshold to the timer
    (event,) = api.events()
    assert isinstance(event, JobCreated) and event.alert_threshold == 2


def _raised(tenant: str, cron_id: int, n: int, kind: str) -> AlertRaised:
    run_id = f"rc_{cron_id}:{n}:1"
    alert = Alert.model_validate(
        dict(
            kind=kind,
            job_id=f"rc_{cron_id}",
            cron_id=cron_id,
            name="nightly",
            consecutive_failures=0 if kind == "recovery" else n,
            alert_threshold=2,
            run_id=run_id,
            raised_at=NOW + timedelta(minutes=n),
        )
    )
    return AlertRaised(
        event_id=f"evt_a{tenant}{cron_id}{n}",
        job_id=f"rc_{cron_id}",
        tenant=tenant,
        occurred_at=NOW + timedelta(minutes=n),
        alert_id=f"alert:{run_id}",
        alert=alert,
    )


def test_alerts_are_listed_newest_first_per_tenant_with_their_delivery(api: Api) -> None:
    # Given t1's cron 5 raised a warning, a failure (delivered) and a recovery, and t2's cron 9 a warning
    warning, failure, recovery = (
        _raised("t1", 5, 1, "warning"),
        _raised("t1", 5, 2, "failure"),
        _raised("t1", 5, 3, "recovery"),
    )
    due = AlertDue(
        event_id="evt_due",
        job_id="rc_5",
        tenant="t1",
        occurred_at=NOW,
        alert_id=failure.alert_id,
        alert=failure.alert,
        due_at=NOW,
    )
    delivered = AlertDelivered(
        event_id="evt_dl",
        job_id="rc_5",
        tenant="t1",
        occurred_at=NOW,
        alert_id=failure.alert_id,
        attempt=1,
        started_at=NOW,
        duration_ms=3.0,
        response_status=200,
        format="json",
    )
    other = _raised("t2", 9, 1, "warning")
    api.project([warning, failure, due, delivered, recovery, other, failure])  # the failure's decision redelivered

    # When t1 lists its alerts
    r = api.client.get("/api/alerts", headers=api.t1)

    # Then it sees its three, newest first, once each, with where each POST stands; never t2's
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert [a["kind"] for a in data] == ["recovery", "failure", "warning"]
    assert data[1]["delivery_status"] == "delivered" and data[1]["delivery_attempts"] == 1
    assert data[1]["cron_id"] == 5 and data[1]["id"] == failure.alert_id
    assert r.json()["meta"]["total"] == 3
    assert [a["cron_id"] for a in api.client.get("/api/alerts", headers=api.t2).json()["data"]] == [9]
    # And a filter by another cron finds none, and paging cuts the list
    assert api.client.get("/api/alerts", params={"cron_id": 6}, headers=api.t1).json()["data"] == []
    page = api.client.get("/api/alerts", params={"per_page": 2, "page": 2}, headers=api.t1).json()
    assert [a["kind"] for a in page["data"]] == ["warning"]


def test_a_deleted_crons_alerts_go_with_it(api: Api) -> None:
    # Given t1's cron with an alert
    api.project([_raised("t1", 5, 1, "warning")])

    # When the cron is deleted
    api.project(
        [_raised("t1", 5, 1, "warning"), JobDeleted(event_id="evt_del", job_id="rc_5", tenant="t1", occurred_at=NOW)]
    )

    # Then its alerts are no longer listed
    assert api.client.get("/api/alerts", headers=api.t1).json()["data"] == []


def test_a_queues_alerts_are_listed_by_queue_and_its_outcomes_make_no_job(api: Api) -> None:
    # Given t1's queue "emails" (alerts_enabled): a job's final failure, sent on to the queue's key, raised a
    # failure alert there, delivered (every event keyed by the queue, as the timer decides them)
    qkey = queue_settings_key("t1", 42)
    outcome = QueueOutcome(
        event_id="evt_qo",
        job_id=qkey,
        tenant="t1",
        occurred_at=NOW,
        queue="emails",
        queue_id=42,
        outcome="failed_no_retries",
        source_job_id="rj_7",
        run_id="rj_7:1:1",
        attempts=1,
        response_status=500,
        failure_reason="http_server_error",
    )
    alert = Alert(
        kind="failure",
        job_id="rj_7",
        queue="emails",
        queue_id=42,
        consecutive_failures=1,
        alert_threshold=1,
        run_id="rj_7:1:1",
        response_status=500,
        failure_reason="http_server_error",
        raised_at=NOW,
    )
    base = dict(job_id=qkey, tenant="t1", occurred_at=NOW, alert_id="alert:rj_7:1:1")
    raised = AlertRaised(event_id="evt_qa", alert=alert, **base)
    due = AlertDue(event_id="evt_qd", alert=alert, due_at=NOW, **base)
    delivered = AlertDelivered(
        event_id="evt_qdl", attempt=1, started_at=NOW, duration_ms=2.0, response_status=200, format="json", **base
    )

    # When the projector folds them
    api.project([outcome, raised, due, delivered])

    # Then GET /api/alerts?queue=emails lists the queue's failure, delivered, with no cron
    data = api.client.get("/api/alerts", params={"queue": "emails"}, headers=api.t1).json()["data"]
    assert [(a["kind"], a["queue"], a["queue_id"], a["cron_id"]) for a in data] == [("failure", "emails", 42, None)]
    assert data[0]["delivery_status"] == "delivered" and data[0]["alert_threshold"] == 1
    assert api.client.get("/api/alerts", params={"queue": "other"}, headers=api.t1).json()["data"] == []
    # And the queue's key is no job of the read model
    with api.ctx.engine.connect() as conn:
        assert conn.execute(select(jobs.c.job_id).where(jobs.c.job_id == qkey)).first() is None
