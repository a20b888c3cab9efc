"""The tenant caps through the API (decision 0030): active schedules, their summed rate, the delivery budget, queues;
and DELETE /api/queues/{name}. Each refusal is a 422 in the endpoint family's error shape, naming the limit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chronohook.clock import FixedClock
from chronohook.ids import queue_id
from chronohook.kafka.log import InMemoryEventLog
from chronohook.kafka.records import Headers, record_of
from chronohook.readmodel.store import PROJECTOR_CONSUMER, Consumed
from chronohook.settings import Settings
from chronohook.store.tokens import create_token
from schemas.codec import decode_event
from schemas.events import Envelope, JobCreated, JobPushed, JobSucceeded, RunOutcome
from schemas.topics import deleted_at_of, queue_of_settings_key, queue_settings_key
from services.ingest.app import build_context, create_app
from services.ingest.cap_tallies import tenant_caps
from services.ingest.context import IngestContext
from tests.unit.test_ingest_api import CREATE, NOW, PUSH
from tests.unit.test_ingest_quotas import FakeTimer

DAILY = "0 9 * * *"
EVERY_SECOND = "* * * * * *"


@dataclass
class Capped:
    client: TestClient
    ctx: IngestContext
    log: InMemoryEventLog
    timer: FakeTimer
    t1: dict[str, str]
    t2: dict[str, str]

    def events(self) -> list[Envelope]:
        return [decode_event(value) for _, value, _ in self.log.records]

    def project(self) -> None:
        """Fold everything appended so far into the read model (tombstones last), and let the next check recount."""
        batch = [
            Consumed(self.ctx.topic, 0, i, decode_event(value)) for i, (_, value, _) in enumerate(self.log.records)
        ]
        self.ctx.store.apply(PROJECTOR_CONSUMER, batch, NOW)
        for offset, (key, headers) in enumerate(self.log.tombstones):  # (the in-memory log's partition 1)
            tenant, qid = queue_of_settings_key(key)
            at = deleted_at_of([(n, v.encode() if isinstance(v, str) else v) for n, v in headers])
            self.ctx.store.remove_queue(PROJECTOR_CONSUMER, (self.ctx.topic, 1, offset), tenant, qid, at)
        self.timer.now += 60

    # The two families' schedule creates, by a name that differs per call.
    def quedup(self, i: int, schedule: str = DAILY, who: dict[str, str] | None = None) -> Any:
        body = CREATE | {"name": f"job {i}", "schedule": schedule}
        return self.client.post("/jobs", json=body, headers=who or self.t1)

    def cron(self, i: int, expression: str = DAILY, active: bool = True, who: dict[str, str] | None = None) -> Any:
        body = {"name": f"cron {i}", "url": "https://example.com/c", "cron_expression": expression, "is_active": active}
        return self.client.post("/api/crons", json=body, headers=who or self.t1)


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[Callable[..., Capped]]:
    opened: list[TestClient] = []

    def make(**limits: Any) -> Capped:
        settings = Settings(data_dir=tmp_path, **limits)
        log = InMemoryEventLog()
        ctx = build_context(settings, FixedClock(NOW), log=log)
        timer = FakeTimer()
        store = ctx.store
        ctx.caps = tenant_caps(settings, ctx.engine, lambda: store.offsets(PROJECTOR_CONSUMER), timer)
        t1 = {"Authorization": f"Bearer {create_token(ctx.engine, 't1')}"}
        t2 = {"Authorization": f"Bearer {create_token(ctx.engine, 't2')}"}
        client = TestClient(create_app(ctx)).__enter__()
        opened.append(client)
        return Capped(client, ctx, log, timer, t1, t2)

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def refused(response: Any, family_key: str, field: str, setting: str) -> None:
    """A 422 in the family's shape (QuedUp ``error``, Recuro ``message``), naming the setting, under ``field``."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {family_key, "errors"}, body
    assert setting in body[family_key] and setting in body["errors"][field][0]


FAMILIES = [("quedup", "error", "schedule"), ("cron", "message", "cron_expression")]


# -- active schedules ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("create", "key", "field"), FAMILIES, ids=["quedup", "recuro"])
def test_a_flood_of_creates_is_held_to_the_cap_of_active_schedules(
    capped: Callable[..., Capped], create: str, key: str, field: str
) -> None:
    # Given a tenant allowed 5 active schedules, and a projector that has seen nothing yet
    api = capped(tenant_max_crons=5)
    # When it creates 12 schedules at once
    answers = [getattr(api, create)(i) for i in range(12)]
    # Then 5 are accepted (counted by this process since the read model's count) and the rest refused with a 422
    assert [r.status_code for r in answers] == [200 if create == "quedup" else 201] * 5 + [422] * 7
    refused(answers[-1], key, field, "CHRONOHOOK_TENANT_MAX_CRONS")
    assert len(api.log.records) == 5
    # And once projected and counted again, it is still held: nothing counted twice, nothing lost
    api.project()
    assert getattr(api, create)(99).status_code == 422
    # And another tenant is not affected
    assert getattr(api, create)(100, who=api.t2).status_code in (200, 201)


def test_paused_and_one_off_jobs_do_not_count_and_pausing_frees_a_place(capped: Callable[..., Capped]) -> None:
    # Given a tenant allowed 2 active schedules: one QuedUp schedule, one paused cron, and one-offs
    api = capped(tenant_max_crons=2)
    first = api.quedup(1)
    assert first.status_code == 200
    assert api.cron(2, active=False).status_code == 201
    for i in range(3):
        assert api.client.post("/jobs", json=CREATE | {"name": f"once {i}"}, headers=api.t1).status_code == 200
        assert api.client.post("/api/jobs", json=PUSH, headers=api.t1).status_code == 201
    # When it creates a second active schedule, then a third
    second, third = api.cron(3), api.quedup(4)
    # Then the second fits and the third is refused
    assert second.status_code == 201 and third.status_code == 422
    # And when it pauses one (projected, counted again), a third fits
    api.project()
    assert api.client.post(f"/jobs/{first.json()['id']}/pause", headers=api.t1).status_code == 200
    api.project()
    assert api.quedup(5).status_code == 200


def test_resuming_a_paused_schedule_counts_against_the_cap(capped: Callable[..., Capped]) -> None:
    # Given a tenant at its cap of 1 active schedule, with a paused QuedUp job and a paused cron
    api = capped(tenant_max_crons=1)
    paused_job = api.quedup(1).json()["id"]
    api.project()
    assert api.client.post(f"/jobs/{paused_job}/pause", headers=api.t1).status_code == 200
    paused_cron = api.cron(2, active=False).json()["id"]
    api.project()
    assert api.quedup(3).status_code == 200
    api.project()
    # When it resumes either
    quedup = api.client.post(f"/jobs/{paused_job}/resume", headers=api.t1)
    recuro = api.client.patch(f"/api/crons/{paused_cron}", json={"is_active": True}, headers=api.t1)
    # Then both are refused: resuming would make 2 active
    refused(quedup, "error", "schedule", "CHRONOHOOK_TENANT_MAX_CRONS")
    refused(recuro, "message", "cron_expression", "CHRONOHOOK_TENANT_MAX_CRONS")


def test_patch_and_put_that_make_a_schedule_are_capped_and_redefining_one_is_not(capped: Callable[..., Capped]) -> None:
    # Given a tenant at its cap of 1: a schedule, and a one-off job
    api = capped(tenant_max_crons=1)
    scheduled = api.quedup(1).json()["id"]
    once = api.client.post("/jobs", json=CREATE | {"name": "once"}, headers=api.t1).json()["id"]
    api.project()
    # When the one-off is given a schedule by PATCH, or by PUT
    patched = api.client.patch(f"/jobs/{once}", json={"schedule": DAILY}, headers=api.t1)
    put = api.client.put(f"/jobs/{once}", json=CREATE | {"name": "once", "schedule": DAILY}, headers=api.t1)
    # Then both are refused
    refused(patched, "error", "schedule", "CHRONOHOOK_TENANT_MAX_CRONS")
    refused(put, "error", "schedule", "CHRONOHOOK_TENANT_MAX_CRONS")
    # And redefining the schedule already counted is accepted
    assert api.client.patch(f"/jobs/{scheduled}", json={"schedule": "0 10 * * *"}, headers=api.t1).status_code == 200


# -- the summed rate and the delivery budget -----------------------------------------------------------------------
@pytest.mark.parametrize(("create", "key", "field"), FAMILIES, ids=["quedup", "recuro"])
def test_every_second_schedules_are_held_to_the_tenants_schedule_rate(
    capped: Callable[..., Capped], create: str, key: str, field: str
) -> None:
    # Given a tenant allowed 3.5 occurrences a second in all
    api = capped(tenant_max_schedule_rate=3.5)
    # When it asks for five `* * * * * *` schedules (1/s each)
    answers = [getattr(api, create)(i, EVERY_SECOND) for i in range(5)]
    # Then 3 are accepted, the rest refused naming the limit
    assert [r.status_code for r in answers[3:]] == [422, 422]
    assert len(api.log.records) == 3
    refused(answers[3], key, field, "CHRONOHOOK_TENANT_MAX_SCHEDULE_RATE")
    # And counted again from the read model: every 2 s (0.5) fits exactly, then nothing more, not even a daily one
    api.project()
    assert getattr(api, create)(9, "*/2 * * * * *").status_code in (200, 201)
    assert getattr(api, create)(10, DAILY).status_code == 422


def test_a_patch_that_speeds_a_cron_up_past_the_rate_is_refused(capped: Callable[..., Capped]) -> None:
    # Given a tenant allowed 1 occurrence a second, with a daily cron and a cron every 2 s
    api = capped(tenant_max_schedule_rate=1)
    daily = api.cron(1).json()["id"]
    assert api.cron(2, "*/2 * * * * *").status_code == 201
    api.project()
    # When the daily one is PATCHed to every second
    r = api.client.patch(f"/api/crons/{daily}", json={"cron_expression": EVERY_SECOND}, headers=api.t1)
    # Then it is refused (0.5 + 1 > 1), and to every 2 s it fits
    refused(r, "message", "cron_expression", "CHRONOHOOK_TENANT_MAX_SCHEDULE_RATE")
    ok = api.client.patch(f"/api/crons/{daily}", json={"cron_expression": "*/2 * * * * *"}, headers=api.t1)
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize(("create", "key", "field"), FAMILIES, ids=["quedup", "recuro"])
def test_a_schedule_faster_than_the_delivery_budget_is_refused(
    capped: Callable[..., Capped], create: str, key: str, field: str
) -> None:
    # Given a delivery budget of 0.5 a second per tenant
    api = capped(tenant_delivery_rate=0.5)
    # When a tenant asks for a schedule of every second, then one of every 2 s
    # Then the first is refused naming the budget, the second accepted
    refused(getattr(api, create)(1, EVERY_SECOND), key, field, "CHRONOHOOK_TENANT_DELIVERY_RATE")
    assert getattr(api, create)(2, "*/2 * * * * *").status_code in (200, 201)


def test_with_every_cap_off_nothing_is_refused(capped: Callable[..., Capped]) -> None:
    api = capped(tenant_max_crons=0, tenant_max_schedule_rate=0, tenant_max_queues=0)
    assert all(api.cron(i, EVERY_SECOND).status_code == 201 for i in range(5))
    assert all(api.client.patch(f"/api/queues/q{i}", json={}, headers=api.t1).status_code == 200 for i in range(5))


# -- queues ----------------------------------------------------------------------------------------------------------
def test_new_queues_by_patch_or_push_are_held_to_the_queue_cap(capped: Callable[..., Capped]) -> None:
    # Given a tenant allowed 2 queues: one made by PATCH, one by a push
    api = capped(tenant_max_queues=2)
    assert api.client.patch("/api/queues/a", json={}, headers=api.t1).status_code == 200
    assert api.client.post("/api/jobs", json=PUSH | {"queue": "b"}, headers=api.t1).status_code == 201
    # When it makes a third either way, or pushes a batch naming a new queue
    by_patch = api.client.patch("/api/queues/c", json={}, headers=api.t1)
    by_push = api.client.post("/api/jobs", json=PUSH | {"queue": "d"}, headers=api.t1)
    batch = api.client.post(
        "/api/jobs/batch", json={"jobs": [PUSH | {"queue": "a"}, PUSH | {"queue": "e"}]}, headers=api.t1
    )
    # Then each is refused naming the limit, in Recuro's shape, and nothing of them was written
    refused(by_patch, "message", "name", "CHRONOHOOK_TENANT_MAX_QUEUES")
    refused(by_push, "message", "queue", "CHRONOHOOK_TENANT_MAX_QUEUES")
    refused(batch, "message", "queue", "CHRONOHOOK_TENANT_MAX_QUEUES")
    assert len(api.log.records) == 2
    # And pushes and PATCHes to its queues go on, before and after they are projected
    assert api.client.post("/api/jobs", json=PUSH | {"queue": "a"}, headers=api.t1).status_code == 201
    api.project()
    assert api.client.patch("/api/queues/b", json={"is_active": False}, headers=api.t1).status_code == 200
    assert (
        api.client.post("/api/jobs/batch", json={"jobs": [PUSH | {"queue": "b"}] * 3}, headers=api.t1).status_code
        == 201
    )
    assert api.client.patch("/api/queues/c", json={}, headers=api.t1).status_code == 422
    # And another tenant has its own
    assert api.client.patch("/api/queues/c", json={}, headers=api.t2).status_code == 200


def test_delete_an_empty_queue_writes_its_tombstone_and_it_is_gone(capped: Callable[..., Capped]) -> None:
    # Given a paused queue with settings, the tenant at its cap of 1 queue
    api = capped(tenant_max_queues=1)
    assert (
        api.client.patch(
            "/api/queues/emails", json={"is_active": False, "timeout_seconds": 5}, headers=api.t1
        ).status_code
        == 200
    )
    api.project()
    # When it is deleted
    r = api.client.delete("/api/queues/emails", headers=api.t1)
    # Then the answer is 204, and the queue's key got a tombstone on the queue-settings log
    assert r.status_code == 204, r.text
    assert [k for k, _ in api.log.tombstones] == [queue_settings_key("t1", queue_id("t1", "emails")).encode()]
    # And once projected it is gone from reads; a second DELETE is a 404
    api.project()
    assert api.client.get("/api/queues/emails", headers=api.t1).status_code == 404
    assert api.client.get("/api/queues", headers=api.t1).json()["data"] == []
    assert api.client.delete("/api/queues/emails", headers=api.t1).status_code == 404
    # And its place is free: a queue of that name made again starts with Recuro's defaults
    again = api.client.patch("/api/queues/emails", json={}, headers=api.t1)
    assert again.status_code == 200, again.text
    assert again.json()["is_active"] is True and again.json()["timeout_seconds"] == 30


def test_delete_a_queue_holding_jobs_is_409_and_unknown_is_404(capped: Callable[..., Capped]) -> None:
    # Given a queue holding a pending job, and another tenant's queue
    api = capped()
    assert api.client.post("/api/jobs", json=PUSH, headers=api.t1).status_code == 201
    assert api.client.patch("/api/queues/theirs", json={}, headers=api.t2).status_code == 200
    api.project()
    # When the tenant deletes its queue, an unknown one, and the other tenant's
    holding = api.client.delete(f"/api/queues/{PUSH['queue']}", headers=api.t1)
    unknown = api.client.delete("/api/queues/nope", headers=api.t1)
    theirs = api.client.delete("/api/queues/theirs", headers=api.t1)
    # Then 409 says why, and the others are 404, in Recuro's shape; nothing was written
    assert holding.status_code == 409 and "1 job waiting" in holding.json()["message"], holding.text
    assert unknown.status_code == theirs.status_code == 404 and unknown.json() == {"message": "Queue not found."}
    assert api.log.tombstones == []
    # And once its job ran, the queue can be deleted
    pushed = next(e for e in api.events() if isinstance(e, JobPushed))
    api.log.records.append(_record(_succeeded(pushed)))
    api.project()
    assert api.client.delete(f"/api/queues/{PUSH['queue']}", headers=api.t1).status_code == 204


def _succeeded(pushed: JobPushed) -> JobSucceeded:
    outcome = RunOutcome(
        run_id=f"{pushed.job_id}:1",
        attempt=1,
        due_at=NOW,
        started_at=NOW,
        finished_at=NOW,
        duration_ms=1.0,
        response_status=200,
        request_headers={},
        request_body=None,
    )
    return JobSucceeded(event_id="ok", job_id=pushed.job_id, tenant=pushed.tenant, occurred_at=NOW, outcome=outcome)


def _record(event: Envelope) -> tuple[bytes, bytes, Headers]:
    return record_of(event)


def test_created_events_are_unchanged_by_the_caps(capped: Callable[..., Capped]) -> None:
    # A create that passes writes exactly the event it wrote before the caps
    api = capped(tenant_max_crons=5)
    assert api.cron(1).status_code == 201
    (event,) = api.events()
    assert isinstance(event, JobCreated) and event.schedule == DAILY
