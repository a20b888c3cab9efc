"""The ingest HTTP API through FastAPI's TestClient, with an in-memory event log and a SQLite file in tmp_path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chronohook.clock import FixedClock
from chronohook.ids import queue_id, recuro_job_key
from chronohook.kafka.log import InMemoryEventLog
from chronohook.readmodel.store import PROJECTOR_CONSUMER as CONSUMER_NAME
from chronohook.readmodel.store import Consumed
from chronohook.settings import Settings
from chronohook.store.tokens import create_token
from schemas.codec import decode_event
from schemas.events import Envelope, JobCreated, JobPushed
from schemas.topics import TYPE_HEADER
from services.ingest.app import build_context, create_app
from services.ingest.commands import recuro_due_at
from services.ingest.context import IngestContext

NOW = datetime(2026, 4, 10, 14, 5, 0, tzinfo=UTC)
MAX_BYTES = 2048
PUSH = {"queue": "emails", "url": "https://api.yourapp.com/send"}
CREATE = {"method": "POST", "name": "Database Backup", "url": "https://example.com"}


@dataclass
class Api:
    client: TestClient
    ctx: IngestContext
    log: InMemoryEventLog
    clock: FixedClock
    t1: dict[str, str]
    t2: dict[str, str]

    def events(self) -> list[Envelope]:
        return [decode_event(value) for _, value, _ in self.log.records]

    def project(self) -> None:
        """Fold everything appended so far into the read model, as the projector would."""
        # The in-memory log is one partition (0); a record's offset is its index.
        batch = [
            Consumed(self.ctx.topic, 0, offset, decode_event(value))
            for offset, (_, value, _) in enumerate(self.log.records)
        ]
        self.ctx.store.apply(CONSUMER_NAME, batch, self.clock.now())


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    # Given an ingest app on a fixed clock, an in-memory log and tokens for tenants t1 and t2
    clock = FixedClock(NOW)
    log = InMemoryEventLog()
    ctx = build_context(Settings(data_dir=tmp_path, max_request_bytes=MAX_BYTES), clock, log=log)
    t1 = create_token(ctx.engine, "t1")
    t2 = create_token(ctx.engine, "t2")
    with TestClient(create_app(ctx)) as client:
        yield Api(client, ctx, log, clock, {"Authorization": f"Bearer {t1}"}, {"Authorization": f"Bearer {t2}"})


def assert_laravel_422(response: Any, field: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"message", "errors"}
    assert field in body["errors"], body
    assert isinstance(body["message"], str)
    assert all(isinstance(m, str) for msgs in body["errors"].values() for m in msgs)
    return body


# -- Recuro POST /api/jobs -----------------------------------------------------------------------------------------
def test_push_answers_201_with_exactly_the_documented_keys(api: Api) -> None:
    # Given a valid push with a 300 s delay
    # When it is posted
    r = api.client.post("/api/jobs", json=PUSH | {"delay": 300}, headers=api.t1)

    # Then the answer is 201 with exactly Recuro's keys
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"success", "queue_id", "job_id", "scheduled_at", "message"}
    assert body["success"] is True
    assert body["message"] == "Scheduled successfully"
    # And scheduled_at is now + delay in Recuro's "+00:00" style
    assert body["scheduled_at"] == "2026-04-10T14:10:00+00:00"
    assert body["queue_id"] == queue_id("t1", "emails")
    assert isinstance(body["job_id"], int)
    assert 0 < body["job_id"] < 2**53


def test_push_appends_one_job_pushed_event(api: Api) -> None:
    # Given a push with headers, a payload and a callback
    payload = {"to": "user@example.com", "subject": "Welcome!"}
    req = PUSH | {"method": "PUT", "headers": {"X-Custom-Header": "value"}, "payload": payload, "delay": 60,
                  "callback_url": "https://api.yourapp.com/cb"}  # fmt: skip

    # When it is posted
    r = api.client.post("/api/jobs", json=req, headers=api.t1)

    # Then exactly one JobPushed was appended, keyed by the job, typed in the header, carrying the request
    assert r.status_code == 201, r.text
    assert len(api.log.records) == 1
    key, _, headers = api.log.records[0]
    (event,) = api.events()
    assert isinstance(event, JobPushed)
    assert key == recuro_job_key(r.json()["job_id"]).encode() == event.job_id.encode()
    assert headers == [(TYPE_HEADER, b"JobPushed")]
    assert (event.tenant, event.integer_id, event.queue, event.delay_seconds) == (
        "t1",
        r.json()["job_id"],
        "emails",
        60,
    )
    assert event.scheduled_at == NOW + timedelta(seconds=60)
    assert event.request.method == "PUT"
    assert event.request.url == PUSH["url"]
    assert event.request.headers["X-Custom-Header"] == "value"
    assert event.request.headers["Content-Type"] == "application/json"
    assert json.loads(event.request.body or "") == payload
    assert event.payload == payload
    assert event.callback_url == "https://api.yourapp.com/cb"
    assert event.attempt_number == 1
    assert event.retry.delays  # the queue's default retry delays apply


def test_the_seed_page_curl_example_is_accepted(api: Api) -> None:
    # Given the body of the curl example on Recuro's page, sent as raw JSON text
    raw = (
        '{ "queue": "emails", "url": "https://api.yourapp.com/send", "method": "POST", '
        '"payload": { "to": "user@example.com", "subject": "Welcome!" } }'
    )
    # When it is posted
    r = api.client.post("/api/jobs", content=raw, headers=api.t1 | {"Content-Type": "application/json"})
    # Then it is scheduled for now
    assert r.status_code == 201, r.text
    assert r.json()["scheduled_at"] == "2026-04-10T14:05:00+00:00"


def test_same_queue_name_same_queue_id_and_distinct_job_ids(api: Api) -> None:
    # Given several pushes to two queues
    answers = [api.client.post("/api/jobs", json=PUSH | {"queue": q}, headers=api.t1).json() for q in "aabab"]

    # Then a queue name always maps to one queue id, different names to different ids
    ids_by_queue = {q: {a["queue_id"] for a, qq in zip(answers, "aabab", strict=True) if qq == q} for q in "ab"}
    assert all(len(v) == 1 for v in ids_by_queue.values())
    assert ids_by_queue["a"] != ids_by_queue["b"]
    # And job ids are distinct JavaScript-safe integers
    job_ids = [a["job_id"] for a in answers]
    assert len(set(job_ids)) == len(job_ids)
    assert all(isinstance(i, int) and 0 < i < 2**53 for i in job_ids)
    # And one event was appended per accepted job
    assert len(api.log.records) == 5


def test_another_tenant_gets_a_different_queue_id_for_the_same_name(api: Api) -> None:
    # Given the same queue name pushed by two tenants
    a = api.client.post("/api/jobs", json=PUSH, headers=api.t1).json()
    b = api.client.post("/api/jobs", json=PUSH, headers=api.t2).json()
    # Then the queues are distinct
    assert a["queue_id"] != b["queue_id"]


def test_missing_token_is_401(api: Api) -> None:
    # Given no Authorization header
    # When a job is pushed
    r = api.client.post("/api/jobs", json=PUSH)
    # Then Recuro's exact 401 comes back and nothing is appended
    assert r.status_code == 401
    assert r.json() == {"error": "Missing authorization token"}
    assert api.log.records == []


@pytest.mark.parametrize("header", ["Bearer chk_not-a-real-token", "Bearer ", "Basic dXNlcjpwYXNz", "chk_x"])
def test_bad_token_is_401_with_an_error(api: Api, header: str) -> None:
    # Given an unknown token or a non-bearer scheme
    # When a job is pushed
    r = api.client.post("/api/jobs", json=PUSH, headers={"Authorization": header})
    # Then it is 401 with an "error" string, and nothing is appended
    assert r.status_code == 401
    assert isinstance(r.json()["error"], str)
    assert api.log.records == []


def test_empty_body_is_422_with_the_queue_required(api: Api) -> None:
    # Given an empty JSON object
    r = api.client.post("/api/jobs", json={}, headers=api.t1)
    # Then it is a Laravel 422 whose first message is about the queue
    body = assert_laravel_422(r, "queue")
    assert body["errors"]["queue"] == ["The queue field is required."]
    assert body["errors"]["url"] == ["The url field is required."]
    assert body["message"].startswith("The queue field is required.")


def test_only_queue_missing_gives_exactly_that_message(api: Api) -> None:
    # Given a body with only the queue missing
    r = api.client.post("/api/jobs", json={"url": "https://example.com"}, headers=api.t1)
    # Then the message and errors are exactly Recuro's documented ones
    assert r.status_code == 422
    assert r.json() == {
        "message": "The queue field is required.",
        "errors": {"queue": ["The queue field is required."]},
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"delay": 86_401}, "delay"),
        ({"delay": -1}, "delay"),
        ({"method": "FOO"}, "method"),
        ({"url": "not a url"}, "url"),
        ({"queue": "q" * 256}, "queue"),
        ({"queue": ""}, "queue"),
        ({"payload": "a string"}, "payload"),
        ({"callback_url": "nope"}, "callback_url"),
    ],
)
def test_invalid_fields_are_422_on_that_field(api: Api, change: dict[str, object], field: str) -> None:
    # Given an otherwise valid push with one invalid field
    r = api.client.post("/api/jobs", json=PUSH | change, headers=api.t1)
    # Then it is a Laravel 422 naming that field, and nothing is appended
    body = assert_laravel_422(r, field)
    assert list(body["errors"]) == [field]
    assert body["message"] == body["errors"][field][0]
    assert api.log.records == []


def test_boundary_delays_are_accepted(api: Api) -> None:
    # Given the smallest and largest allowed delays
    for delay, expected in ((0, "2026-04-10T14:05:00+00:00"), (86_400, "2026-04-11T14:05:00+00:00")):
        r = api.client.post("/api/jobs", json=PUSH | {"delay": delay}, headers=api.t1)
        # Then both are scheduled at now + delay
        assert r.status_code == 201, r.text
        assert r.json()["scheduled_at"] == expected


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"'])
def test_malformed_or_non_object_json_is_422(api: Api, raw: bytes) -> None:
    # Given a body that is not a JSON object
    r = api.client.post("/api/jobs", content=raw, headers=api.t1 | {"Content-Type": "application/json"})
    # Then it is a Laravel-shaped 422 and nothing is appended
    body = assert_laravel_422(r, "body")
    assert body["message"] == "The request body must be a JSON object."
    assert api.log.records == []


def test_an_oversized_body_is_413(api: Api) -> None:
    # Given a push whose body exceeds the configured limit (with its Content-Length declared)
    big = PUSH | {"payload": {"blob": "x" * (MAX_BYTES + 1)}}
    # When it is posted
    r = api.client.post("/api/jobs", json=big, headers=api.t1)
    # Then it is 413 with a message in Recuro's shape, and nothing is appended
    assert r.status_code == 413
    assert str(MAX_BYTES) in r.json()["message"]
    assert api.log.records == []


def test_a_broker_refusal_is_503_and_nothing_is_appended(api: Api) -> None:
    # Given a log that refuses the next append
    api.log.fail_next = True
    # When a job is pushed
    r = api.client.post("/api/jobs", json=PUSH, headers=api.t1)
    # Then it is 503 with a message and nothing was appended
    assert r.status_code == 503
    assert "message" in r.json()
    assert api.log.records == []
    # And the next push goes through
    assert api.client.post("/api/jobs", json=PUSH, headers=api.t1).status_code == 201
    assert len(api.log.records) == 1


def test_only_accepted_jobs_are_appended(api: Api) -> None:
    # Given a mix of valid and invalid pushes
    statuses = [
        api.client.post("/api/jobs", json=body, headers=api.t1).status_code
        for body in (PUSH, {}, PUSH | {"delay": -1}, PUSH | {"queue": "other"}, PUSH | {"url": "x"})
    ]
    # Then exactly the accepted ones were appended
    assert statuses == [201, 422, 422, 201, 422]
    assert [e.type for e in api.events()] == ["JobPushed", "JobPushed"]  # type: ignore[attr-defined]


# -- Recuro GET /api/jobs/{id} and tenant isolation ----------------------------------------------------------------
def test_a_pushed_job_is_readable_by_its_tenant_only(api: Api) -> None:
    # Given a job pushed by t1 and projected into the read model
    job_id = api.client.post("/api/jobs", json=PUSH | {"delay": 300}, headers=api.t1).json()["job_id"]
    api.project()

    # When t1 reads it
    mine = api.client.get(f"/api/jobs/{job_id}", headers=api.t1)

    # Then it is pending, scheduled 300 s out, with no runs yet
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert (body["id"], body["status"], body["queue"], body["attempt_number"]) == (job_id, "pending", "emails", 1)
    assert body["scheduled_at"] == "2026-04-10T14:10:00+00:00"
    assert body["runs"] == []
    assert body["is_retry"] is False
    # But t2 gets a 404, the same as for an id that never existed
    assert api.client.get(f"/api/jobs/{job_id}", headers=api.t2).status_code == 404
    assert api.client.get("/api/jobs/123456", headers=api.t1).status_code == 404


# -- QuedUp POST /jobs ---------------------------------------------------------------------------------------------
def test_create_returns_the_job_object_at_run_at(api: Api) -> None:
    # Given a QuedUp job to run once at a set time
    req = CREATE | {"run_at": "2030-01-01T02:00:00+02:00", "body": "{}", "headers": {"X-A": "1"}}

    # When it is created
    r = api.client.post("/jobs", json=req, headers=api.t1)

    # Then the Job object comes back with a job_ id and next_run_at = run_at (in UTC)
    assert r.status_code == 200, r.text
    job = r.json()
    assert set(job) == {
        "id", "name", "method", "url", "body", "headers", "schedule", "timezone", "catch_up", "next_run_at", "status"
    }  # fmt: skip
    assert job["id"].startswith("job_")
    assert len(job["id"]) == len("job_") + 26
    assert job["next_run_at"] == "2030-01-01T00:00:00Z"
    assert (job["name"], job["method"], job["url"], job["status"]) == (
        "Database Backup",
        "POST",
        "https://example.com",
        "active",
    )
    assert (job["body"], job["headers"], job["schedule"]) == ("{}", {"X-A": "1"}, None)
    # And one JobCreated was appended for it
    (event,) = api.events()
    assert isinstance(event, JobCreated)
    assert (event.job_id, event.api, event.tenant) == (job["id"], "quedup", "t1")
    assert event.run_at == datetime(2030, 1, 1, tzinfo=UTC)


def test_schedule_wins_over_run_at(api: Api) -> None:
    # Given an every-minute schedule and a run_at far away, created at 14:05:00
    api.clock.advance(12.5)
    r = api.client.post(
        "/jobs", json=CREATE | {"schedule": "* * * * *", "run_at": "2030-01-01T00:00:00Z"}, headers=api.t1
    )
    # Then next_run_at is the next minute boundary
    assert r.status_code == 200, r.text
    assert r.json()["next_run_at"] == "2026-04-10T14:06:00Z"
    assert r.json()["schedule"] == "* * * * *"
    (event,) = api.events()
    assert isinstance(event, JobCreated)
    assert event.run_at is None


def test_neither_schedule_nor_run_at_means_now(api: Api) -> None:
    # Given a job with no timing at all
    r = api.client.post("/jobs", json=CREATE, headers=api.t1)
    # Then it is due now
    assert r.status_code == 200, r.text
    assert r.json()["next_run_at"] == "2026-04-10T14:05:00Z"


def test_duplicate_name_is_409_per_tenant(api: Api) -> None:
    # Given a job named "Database Backup" for t1
    assert api.client.post("/jobs", json=CREATE, headers=api.t1).status_code == 200
    # When t1 creates another with the same name
    again = api.client.post("/jobs", json=CREATE, headers=api.t1)
    # Then it is 409 with an error, and only the first was appended
    assert again.status_code == 409
    assert "error" in again.json()
    assert len(api.log.records) == 1
    # But t2 may use the same name
    assert api.client.post("/jobs", json=CREATE, headers=api.t2).status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"run_at": "2025-09-24 17:00"}, "run_at"),
        ({"run_at": "2025-09-24T17:00:00"}, "run_at"),
        ({"schedule": "61 * * * *"}, "schedule"),
        ({"method": "FOO"}, "method"),
        ({"url": "not a url"}, "url"),
        ({"name": ""}, "name"),
    ],
)
def test_invalid_quedup_input_is_422_error_and_errors(api: Api, change: dict[str, object], field: str) -> None:
    # Given a job with one invalid field
    r = api.client.post("/jobs", json=CREATE | change, headers=api.t1)
    # Then it is 422 in QuedUp's {"error", "errors"} shape naming the field, and nothing is appended
    assert r.status_code == 422, r.text
    body = r.json()
    assert set(body) == {"error", "errors"}
    assert list(body["errors"]) == [field]
    assert api.log.records == []


def test_a_broker_refusal_releases_the_name(api: Api) -> None:
    # Given a log that refuses the next append
    api.log.fail_next = True
    # When a job is created
    refused = api.client.post("/jobs", json=CREATE, headers=api.t1)
    # Then it is 503 and the name is free again for the retry
    assert refused.status_code == 503
    assert "error" in refused.json()
    assert api.log.records == []
    assert api.client.post("/jobs", json=CREATE, headers=api.t1).status_code == 200


def test_quedup_missing_token_is_401(api: Api) -> None:
    # Given no token
    r = api.client.post("/jobs", json=CREATE)
    # Then it is 401 with the same error body as Recuro's
    assert r.status_code == 401
    assert r.json() == {"error": "Missing authorization token"}


def test_a_quedup_job_is_readable_by_its_tenant_only(api: Api) -> None:
    # Given a job created by t1 and projected into the read model
    job_id = api.client.post("/jobs", json=CREATE | {"schedule": "0 12 * * *"}, headers=api.t1).json()["id"]
    api.project()

    # When t1 reads it, and lists its jobs
    mine = api.client.get(f"/jobs/{job_id}", headers=api.t1)
    listed = api.client.get("/jobs", headers=api.t1)

    # Then t1 sees it, next due at noon tomorrow (it is 14:05 now)
    assert mine.status_code == 200, mine.text
    assert (mine.json()["id"], mine.json()["next_run_at"]) == (job_id, "2026-04-11T12:00:00Z")
    assert [j["id"] for j in listed.json()] == [job_id]
    # But t2 neither reads nor lists it
    other = api.client.get(f"/jobs/{job_id}", headers=api.t2)
    assert other.status_code == 404
    assert "error" in other.json()
    assert api.client.get("/jobs", headers=api.t2).json() == []
    # And unknown ids are 404 too
    assert api.client.get("/jobs/job_00000000000000000000000000", headers=api.t1).status_code == 404


def test_quedup_ids_are_not_readable_as_recuro_and_vice_versa(api: Api) -> None:
    # Given one job of each API for t1, projected
    quedup_id = api.client.post("/jobs", json=CREATE, headers=api.t1).json()["id"]
    recuro_id = api.client.post("/api/jobs", json=PUSH, headers=api.t1).json()["job_id"]
    api.project()
    # Then each is only found under its own API
    assert api.client.get(f"/jobs/{recuro_job_key(recuro_id)}", headers=api.t1).status_code == 404
    assert api.client.get(f"/jobs/{quedup_id}", headers=api.t1).status_code == 200


# -- Recuro POST /api/crons ------------------------------------------------------------------------------------------
def test_create_cron_answers_201(api: Api) -> None:
    # Given a cron every 5 minutes
    r = api.client.post(
        "/api/crons", json={"name": "c", "url": "https://e.com", "cron_expression": "*/5 * * * *"}, headers=api.t1
    )
    # Then it is 201 with Recuro's keys and the next 5-minute boundary
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"id", "name", "cron_expression", "timezone", "catch_up", "next_run_at", "is_active"}
    assert body["next_run_at"] == "2026-04-10T14:10:00+00:00"
    assert body["is_active"] is True
    assert 0 < body["id"] < 2**53


# -- health and docs -------------------------------------------------------------------------------------------------
def test_healthz_is_200_without_a_token(api: Api) -> None:
    # Given / When the liveness probe is called without a token
    r = api.client.get("/healthz")
    # Then it answers ok
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_openapi_lists_both_apis(api: Api) -> None:
    # Given the generated OpenAPI document
    paths = api.client.get("/openapi.json").json()["paths"]
    # Then it documents QuedUp's and Recuro's endpoints
    assert {"/jobs", "/api/jobs", "/api/crons"} <= set(paths)
    assert "post" in paths["/jobs"]
    assert "post" in paths["/api/jobs"]
    assert "post" in paths["/api/crons"]


@pytest.mark.parametrize(("path", "body"), [("/api/jobs", PUSH), ("/api/crons", None)])
def test_a_create_while_the_node_id_lease_has_lapsed_is_a_503_and_appends_nothing(
    api: Api, path: str, body: dict[str, Any] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an ingest process whose node-id lease lapsed (its database was away too long)
    from chronohook.store.leases import NodeLeaseLapsed

    def lapsed() -> int:
        raise NodeLeaseLapsed("the lease on node id 0 was not renewed in time")

    monkeypatch.setattr(api.ctx.ids, "next_id", lapsed)
    payload = body or {"name": "nightly", "url": "https://example.com/n", "cron_expression": "0 3 * * *"}
    # When a Recuro job or cron is created
    r = api.client.post(path, json=payload, headers=api.t1)
    # Then it is a 503 in the API's shape, and nothing reached the log
    assert r.status_code == 503, r.text
    assert "cannot mint job ids" in r.json()["message"]
    assert api.log.records == []


@pytest.mark.parametrize(
    ("now", "delay", "run_at", "due"),
    [
        # delay: the next whole second at or after now + delay, so Recuro's whole-second answer is the instant
        (datetime(2026, 4, 10, 14, 5, 0, 250_000, UTC), 2, None, datetime(2026, 4, 10, 14, 5, 3, tzinfo=UTC)),
        (datetime(2026, 4, 10, 14, 5, 0, tzinfo=UTC), 2, None, datetime(2026, 4, 10, 14, 5, 2, tzinfo=UTC)),
        (datetime(2026, 4, 10, 14, 5, 59, 999_999, UTC), 1, None, datetime(2026, 4, 10, 14, 6, 1, tzinfo=UTC)),
        # delay 0: now, to the millisecond
        (datetime(2026, 4, 10, 14, 5, 0, 250_999, UTC), 0, None, datetime(2026, 4, 10, 14, 5, 0, 250_000, UTC)),
        # run_at: kept to the millisecond; in the past, now
        (
            datetime(2026, 4, 10, 14, 5, 0, tzinfo=UTC),
            0,
            datetime(2026, 4, 10, 14, 6, 0, 437_000, UTC),
            datetime(2026, 4, 10, 14, 6, 0, 437_000, UTC),
        ),
        (
            datetime(2026, 4, 10, 14, 5, 0, 120_400, UTC),
            0,
            datetime(2026, 4, 10, 14, 0, 0, tzinfo=UTC),
            datetime(2026, 4, 10, 14, 5, 0, 120_000, UTC),
        ),
    ],
)
def test_a_recuro_push_is_due_on_the_instant_its_answer_promises(
    now: datetime, delay: int, run_at: datetime | None, due: datetime
) -> None:
    # Given the time of the push, its delay and its run_at; When its due instant is decided; Then it is `due`
    assert recuro_due_at(now, delay, run_at) == due


def test_a_delay_is_answered_on_the_next_whole_second_and_a_run_at_with_its_milliseconds(api: Api) -> None:
    # Given the clock at 14:05:00.250
    api.clock.set(NOW + timedelta(milliseconds=250))
    # When a push with delay 2 and one with a run_at with milliseconds are made
    delayed = api.client.post("/api/jobs", json=PUSH | {"delay": 2}, headers=api.t1)
    timed = api.client.post("/api/jobs", json=PUSH | {"run_at": "2026-04-10T14:06:00.437Z"}, headers=api.t1)
    # Then the delayed one is due on the next whole second, answered in Recuro's format exactly
    assert delayed.json()["scheduled_at"] == "2026-04-10T14:05:03+00:00"
    # And the timed one keeps its milliseconds, in the answer and in the event
    assert timed.json()["scheduled_at"] == "2026-04-10T14:06:00.437+00:00"
    pushed = api.events()
    assert [p.scheduled_at for p in pushed if isinstance(p, JobPushed)] == [
        datetime(2026, 4, 10, 14, 5, 3, tzinfo=UTC),
        datetime(2026, 4, 10, 14, 6, 0, 437_000, UTC),
    ]
