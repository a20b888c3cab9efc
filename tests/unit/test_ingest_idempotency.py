"""Idempotency-Key on the four creates (decision 0019), through FastAPI's TestClient and an in-memory log."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from chronohook.clock import FixedClock
from chronohook.ids import DERIVED_BIT, MAX_SAFE_INTEGER, derived_integer_id, derived_quedup_job_id
from chronohook.kafka.log import InMemoryEventLog
from chronohook.readmodel.views import evolve
from chronohook.settings import Settings
from chronohook.store.idempotency import Busy, IdempotencyKeys, Reservation
from chronohook.store.tables import idempotency_keys
from chronohook.store.tokens import create_token
from schemas.events import JobCreated, JobPushed
from services.ingest.app import build_context, create_app
from services.ingest.idempotency import canonical_sha256
from services.timer.domain import on_event
from tests.support.polling import eventually
from tests.unit.test_ingest_api import CREATE, NOW, PUSH, Api, api, assert_laravel_422

__all__ = ["api"]  # the fixture, re-exported for pytest

CRON = {"name": "Nightly", "url": "https://example.com/cron", "cron_expression": "0 2 * * *"}
BATCH = {"jobs": [PUSH, PUSH | {"queue": "other", "delay": 60}]}
CREATES: list[tuple[str, dict[str, Any]]] = [
    ("/jobs", CREATE),
    ("/api/jobs", PUSH),
    ("/api/jobs/batch", BATCH),
    ("/api/crons", CRON),
]


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


def created(api: Api) -> list[JobCreated | JobPushed]:
    return [e for e in api.events() if isinstance(e, JobCreated | JobPushed)]


@pytest.mark.parametrize(("path", "body"), CREATES)
def test_a_repeat_with_the_same_body_gets_the_first_answer_and_creates_nothing(
    api: Api, path: str, body: dict[str, Any]
) -> None:
    # Given a create sent with an Idempotency-Key
    first = api.client.post(path, json=body, headers=api.t1 | key("order-42"))
    assert first.status_code in (200, 201), first.text
    appended = len(api.log.records)

    # When the same request is sent again, later
    api.clock.advance(3600)
    again = api.client.post(path, json=body, headers=api.t1 | key("order-42"))

    # Then it gets the same status and body, marked as replayed, and nothing more is appended
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(api.log.records) == appended


def test_whitespace_and_key_order_do_not_make_another_body(api: Api) -> None:
    # Given a push with a key, then the same JSON spaced and ordered otherwise
    first = api.client.post("/api/jobs", json=PUSH | {"delay": 5}, headers=api.t1 | key("k"))
    spaced = b'{ "delay" : 5 ,\n  "url": "https://api.yourapp.com/send", "queue":"emails" }'

    # When it is sent
    again = api.client.post("/api/jobs", content=spaced, headers=api.t1 | key("k") | {"Content-Type": "json"})

    # Then it is the same request: the first answer, one job
    assert again.json() == first.json()
    assert len(created(api)) == 1


@pytest.mark.parametrize(("path", "body", "other"), [(p, b, b | {"name": "x"}) for p, b in CREATES if p != "/jobs"])
def test_the_same_key_with_another_body_is_laravels_422(
    api: Api, path: str, body: dict[str, Any], other: dict[str, Any]
) -> None:
    # Given a Recuro create sent with a key
    assert api.client.post(path, json=body, headers=api.t1 | key("k")).status_code == 201
    # When the same key comes with another body
    r = api.client.post(path, json=other, headers=api.t1 | key("k"))
    # Then it is a 422 in Laravel's shape naming the header, and nothing more is appended
    assert_laravel_422(r, "Idempotency-Key")
    assert len(created(api)) == (2 if path.endswith("batch") else 1)


def test_the_same_key_with_another_body_is_quedups_422(api: Api) -> None:
    # Given a QuedUp create sent with a key
    assert api.client.post("/jobs", json=CREATE, headers=api.t1 | key("k")).status_code == 200
    # When the same key comes with another body
    r = api.client.post("/jobs", json=CREATE | {"name": "Other"}, headers=api.t1 | key("k"))
    # Then it is a 422 in QuedUp's shape
    assert r.status_code == 422, r.text
    assert set(r.json()) == {"error", "errors"} and "Idempotency-Key" in r.json()["errors"]
    assert len(created(api)) == 1


@pytest.mark.parametrize("bad", [b"", b"x" * 256, "clé".encode(), b"tab\there"])
def test_a_malformed_key_is_refused_in_the_shape(api: Api, bad: bytes) -> None:
    # Given a key that is empty, too long, or not printable ASCII
    # When a push carries it
    headers: dict[str, str | bytes] = {**api.t1, "Idempotency-Key": bad}
    r = api.client.post("/api/jobs", json=PUSH, headers=headers)
    # Then it is Laravel's 422 and nothing is appended
    assert_laravel_422(r, "Idempotency-Key")
    assert api.events() == []


def test_tenants_with_the_same_key_are_independent(api: Api) -> None:
    # Given two tenants sending the same key with the same body
    a = api.client.post("/api/jobs", json=PUSH, headers=api.t1 | key("k"))
    b = api.client.post("/api/jobs", json=PUSH, headers=api.t2 | key("k"))
    # Then each gets a job of its own
    assert a.status_code == b.status_code == 201
    assert a.json()["job_id"] != b.json()["job_id"]
    assert [e.tenant for e in created(api)] == ["t1", "t2"]


def test_a_key_expires_after_24_hours(api: Api) -> None:
    # Given a push with a key
    first = api.client.post("/api/jobs", json=PUSH, headers=api.t1 | key("k"))
    # When the same request comes back just before 24 h, then just after
    api.clock.advance(24 * 3600 - 1)
    within = api.client.post("/api/jobs", json=PUSH, headers=api.t1 | key("k"))
    api.clock.advance(2)
    after = api.client.post("/api/jobs", json=PUSH, headers=api.t1 | key("k"))
    # Then within it is the first answer, after it a new job with a new id (even with another body it would be)
    assert within.json() == first.json()
    assert after.status_code == 201 and after.json()["job_id"] != first.json()["job_id"]
    assert len(created(api)) == 2


def test_expired_keys_are_purged(api: Api) -> None:
    # Given a key used now
    api.client.post("/api/jobs", json=PUSH, headers=api.t1 | key("k"))
    keys = IdempotencyKeys(api.ctx.engine)
    # When expired rows are purged before and after the 24 h
    before = keys.purge_expired(api.clock.now() + timedelta(hours=23))
    after = keys.purge_expired(api.clock.now() + timedelta(hours=24))
    # Then only the latter removes it
    assert (before, after) == (0, 1)


def test_derived_ids_are_safe_integers_apart_from_snowflakes_and_quedup_shaped() -> None:
    # Given ids derived from a few parts
    ids = [derived_integer_id("t1", "recuro.jobs", "k", "n", i) for i in range(1000)]
    # Then each is below 2**53 with bit 52 set (snowflakes reach it in 2059), all distinct, and stable
    assert all(DERIVED_BIT <= i <= MAX_SAFE_INTEGER for i in ids)
    assert len(set(ids)) == 1000
    assert derived_integer_id("t1", "recuro.jobs", "k", "n", 0) == ids[0]
    job = derived_quedup_job_id("t1", "quedup.jobs", "k", "n", 0)
    assert job.startswith("job_") and len(job) == 30 and job == job.lower()


def test_a_batch_derives_each_jobs_id_from_the_key_and_its_index(api: Api) -> None:
    # Given a batch of two jobs sent with a key
    r = api.client.post("/api/jobs/batch", json=BATCH, headers=api.t1 | key("b"))
    # Then the ids are the ones derived from the reservation and each index
    (row,) = _rows(api)
    expected = [derived_integer_id("t1", "recuro.jobs.batch", "b", row.nonce, i) for i in (0, 1)]
    assert [j["job_id"] for j in r.json()["jobs"]] == expected


def test_a_refused_request_does_not_hold_the_key(api: Api) -> None:
    # Given a push refused by validation (no url) under a key
    r = api.client.post("/api/jobs", json={"queue": "q"}, headers=api.t1 | key("k"))
    assert r.status_code == 422
    # When the corrected request comes with the same key
    ok = api.client.post("/api/jobs", json=PUSH, headers=api.t1 | key("k"))
    # Then it is created (the refusal stored nothing)
    assert ok.status_code == 201, ok.text
    assert len(created(api)) == 1


def test_after_a_failed_append_the_next_request_takes_over_with_the_same_ids(api: Api) -> None:
    # Given a push whose append the broker refuses
    api.log.fail_next = True
    failed = api.client.post("/api/jobs", json=PUSH, headers=api.t1 | key("k"))
    assert failed.status_code == 503
    (row,) = _rows(api)
    # When it is sent again at once
    again = api.client.post("/api/jobs", json=PUSH, headers=api.t1 | key("k"))
    # Then it takes over the reservation: the job id is the one the first derived
    assert again.status_code == 201, again.text
    assert again.json()["job_id"] == derived_integer_id("t1", "recuro.jobs", "k", row.nonce, 0)


@pytest.mark.parametrize(("path", "body"), [("/jobs", CREATE), ("/api/jobs", PUSH)])
def test_a_dead_holder_is_taken_over_after_a_minute(api: Api, path: str, body: dict[str, Any]) -> None:
    # Given a reservation whose holder appended its job and died before storing its answer
    ids = {"/jobs": "quedup.jobs", "/api/jobs": "recuro.jobs"}
    keys = IdempotencyKeys(api.ctx.engine)
    sha = canonical_sha256(httpx.Request("POST", "/", json=body).content)
    assert sha is not None
    held = keys.claim("t1", ids[path], "k", sha, api.clock.now())
    assert isinstance(held, Reservation)
    api.clock.advance(61)

    # When the request comes again
    r = api.client.post(path, json=body, headers=api.t1 | key("k"))

    # Then it takes over, re-deriving the dead holder's job id, dated when the key was first reserved
    assert r.status_code in (200, 201), r.text
    (event,) = created(api)
    if path == "/jobs":
        assert r.json()["id"] == event.job_id == derived_quedup_job_id("t1", "quedup.jobs", "k", held.nonce, 0)
    else:
        assert r.json()["job_id"] == derived_integer_id("t1", "recuro.jobs", "k", held.nonce, 0)
    assert event.occurred_at == NOW
    # And a live holder is not taken over
    assert isinstance(keys.claim("t1", "other", "k", sha, api.clock.now()), Reservation)
    assert isinstance(keys.claim("t1", "other", "k", sha, api.clock.now() + timedelta(seconds=59)), Busy)


def test_a_repeated_creation_event_changes_neither_the_timer_entry_nor_the_view(api: Api) -> None:
    # Given a pushed job that has been fired (its entry and view moved on)
    api.client.post("/api/jobs", json=PUSH, headers=api.t1 | key("k"))
    (push,) = created(api)
    entry, _ = on_event(None, push, NOW)
    assert entry is not None
    moved = entry.model_copy(update={"in_flight": ("run-1",)})
    view = evolve(None, push)
    assert view is not None
    ran = view.model_copy(update={"status": "completed", "runs_count": 1})
    # When the same creation event is folded again
    # Then nothing is reset
    assert on_event(moved, push, NOW)[0] is moved
    assert evolve(ran, push) is ran


# -- concurrency -----------------------------------------------------------------------------------------------
class GatedLog(InMemoryEventLog):
    """Holds every append until the gate opens: the first request stays mid-way while the second arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.appends = 0

    async def append(self, events: list[Any]) -> list[tuple[int, int]]:
        self.appends += 1
        await asyncio.to_thread(self.gate.wait, 30)
        return await super().append(events)


@dataclass
class Gated:
    client: TestClient
    log: GatedLog
    headers: dict[str, str]
    engine: Any


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[Gated]:
    # Given an ingest app whose log holds appends until told
    log = GatedLog()
    ctx = build_context(Settings(data_dir=tmp_path), FixedClock(NOW), log=log)
    token = create_token(ctx.engine, "t1")
    with TestClient(create_app(ctx)) as client:
        yield Gated(client, log, {"Authorization": f"Bearer {token}"}, ctx.engine)
        log.gate.set()


@pytest.mark.parametrize(("path", "body"), CREATES)
def test_two_concurrent_requests_with_one_key_create_one_job(
    gated: Gated, monkeypatch: pytest.MonkeyPatch, path: str, body: dict[str, Any]
) -> None:
    busy = []
    claim = IdempotencyKeys.claim

    def counting(self: IdempotencyKeys, *args: Any) -> Any:
        result = claim(self, *args)
        if isinstance(result, Busy):
            busy.append(result)
        return result

    monkeypatch.setattr(IdempotencyKeys, "claim", counting)
    answers: list[httpx.Response] = []

    def send() -> None:
        answers.append(gated.client.post(path, json=body, headers=gated.headers | key("race")))

    # When a first request is mid-way (its append held) and a second with the same key arrives
    first = threading.Thread(target=send)
    first.start()
    eventually(lambda: gated.log.appends == 1, timeout=10, what="the first append")
    second = threading.Thread(target=send)
    second.start()
    eventually(lambda: busy, timeout=10, what="the second request waiting")
    gated.log.gate.set()
    first.join(30)
    second.join(30)

    # Then one append happened, and both got the same answer
    assert gated.log.appends == 1
    assert len(answers) == 2
    assert answers[0].status_code in (200, 201)
    assert (answers[0].status_code, answers[0].content) == (answers[1].status_code, answers[1].content)


def _rows(api: Api) -> list[Any]:
    with api.ctx.engine.connect() as conn:
        return list(conn.execute(select(idempotency_keys)))
