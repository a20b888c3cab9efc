"""``/api/dead-letters`` through FastAPI's TestClient: an in-memory event log, a SQLite read model in tmp_path, and the
dead letters made by appending the timer's and executor's events as they would."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chronohook.clock import FixedClock
from chronohook.ids import recuro_job_key
from chronohook.kafka.log import InMemoryEventLog
from chronohook.kafka.records import record_of
from chronohook.readmodel.store import PROJECTOR_CONSUMER, Consumed
from chronohook.settings import Settings
from chronohook.store.tokens import create_token
from schemas.codec import decode_event
from schemas.events import (
    DeadLetterReplayed,
    Envelope,
    JobDeadLettered,
    JobFailed,
    JobPurged,
    JobPushed,
    RunOutcome,
)
from services.ingest.app import build_context, create_app
from services.ingest.context import IngestContext

NOW = datetime(2026, 4, 10, 14, 5, 0, tzinfo=UTC)
S = timedelta(seconds=1)
TARGET = "http://127.0.0.2:9/always-500"


@dataclass
class Api:
    client: TestClient
    ctx: IngestContext
    log: InMemoryEventLog
    t1: dict[str, str]
    t2: dict[str, str]

    def events(self) -> list[Envelope]:
        return [decode_event(value) for _, value, _ in self.log.records]

    def project(self) -> None:
        batch = [
            Consumed(self.ctx.topic, 0, offset, decode_event(value))
            for offset, (_, value, _) in enumerate(self.log.records)
        ]
        self.ctx.store.apply(PROJECTOR_CONSUMER, batch, NOW)

    def dead_letter(
        self, queue: str = "emails", headers: dict[str, str] | None = None, at: datetime = NOW, pad: str = ""
    ) -> int:
        """Push a job, then append its failed run and its dead letter as the executor and timer would."""
        r = self.client.post(
            "/api/jobs",
            json={
                "queue": queue,
                "url": TARGET,
                "payload": {"n": 1, "pad": pad},
                "callback_url": "http://127.0.0.2:9/cb",
            },
            headers=headers or self.t1,
        )
        assert r.status_code == 201, r.text
        job_id: int = r.json()["job_id"]
        [pushed] = [e for e in self.events() if isinstance(e, JobPushed) and e.integer_id == job_id]
        key = recuro_job_key(job_id)
        run = RunOutcome(
            run_id=f"{key}:1:1", attempt=1, due_at=at, started_at=at, finished_at=at + S, duration_ms=1000.0,
            request_headers={}, request_body=None, response_status=500, response_body="no",
        )  # fmt: skip
        base = {"job_id": key, "tenant": pushed.tenant, "occurred_at": at + S}
        for event in (
            JobFailed(**base, event_id=f"evt_f{job_id}", outcome=run, failure_reason="http_server_error",
                      error_message="HTTP 500"),
            JobDeadLettered(**base, event_id=f"evt_d{job_id}", failed_run_id=run.run_id, attempts=4,
                            final_status="dead_lettered", purge_at=at + S + timedelta(days=14)),
        ):  # fmt: skip
            self.log.records.append(record_of(event))
        self.project()
        return job_id


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    # Given an ingest app on a fixed clock, an in-memory log and tokens for tenants t1 and t2
    log = InMemoryEventLog()
    ctx = build_context(Settings(data_dir=tmp_path, egress_allow="127.0.0.2/32"), FixedClock(NOW), log=log)
    t1 = create_token(ctx.engine, "t1")
    t2 = create_token(ctx.engine, "t2")
    with TestClient(create_app(ctx)) as client:
        yield Api(client, ctx, log, {"Authorization": f"Bearer {t1}"}, {"Authorization": f"Bearer {t2}"})


def assert_laravel_422(response: Any, field: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"message", "errors"} and field in body["errors"], body
    return body


# -- GET /api/dead-letters --------------------------------------------------------------------------------------
def test_a_dead_letter_is_listed_with_its_last_failure(api: Api) -> None:
    # Given a job whose retries ran out
    job_id = api.dead_letter()
    # When the tenant lists its dead letters
    r = api.client.get("/api/dead-letters", headers=api.t1)
    # Then it is there, in Laravel's page shape, with the run that failed last
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["meta"]["total"] == 1 and body["meta"]["current_page"] == 1
    [item] = body["data"]
    assert item["job_id"] == job_id and item["queue"] == "emails" and item["final_status"] == "dead_lettered"
    assert (item["method"], item["url"], item["attempts"]) == ("POST", TARGET, 4)
    assert item["purge_at"] is not None and item["dead_lettered_at"] < item["purge_at"]
    assert item["last_failure"]["failure_reason"] == "http_server_error"
    assert item["last_failure"]["response_status"] == 500 and item["last_failure"]["job_id"] == job_id


def test_the_list_filters_by_queue_pages_newest_first_and_is_the_tenants_own(api: Api) -> None:
    # Given three dead letters of t1 (two in "emails") and one of t2
    a = api.dead_letter("emails", at=NOW)
    b = api.dead_letter("sms", at=NOW + S)
    c = api.dead_letter("emails", at=NOW + 2 * S)
    api.dead_letter("emails", headers=api.t2)
    # When t1 lists one queue, then a page of one
    emails = api.client.get("/api/dead-letters", params={"queue": "emails"}, headers=api.t1).json()
    page2 = api.client.get("/api/dead-letters", params={"per_page": 1, "page": 2}, headers=api.t1).json()
    # Then only that queue's, newest first; pages of all three; none of t2's
    assert [d["job_id"] for d in emails["data"]] == [c, a]
    assert [d["job_id"] for d in page2["data"]] == [b] and page2["meta"]["total"] == 3
    assert page2["links"]["next"] is not None and "per_page=1" in page2["links"]["next"]


def test_bad_list_parameters_are_422_in_laravel_shape(api: Api) -> None:
    assert_laravel_422(api.client.get("/api/dead-letters?per_page=1000", headers=api.t1), "per_page")
    assert_laravel_422(api.client.get("/api/dead-letters?queue=", headers=api.t1), "queue")


# -- replay -----------------------------------------------------------------------------------------------------
def test_a_replay_is_a_fresh_job_due_now_with_the_same_request(api: Api) -> None:
    # Given a dead letter
    job_id = api.dead_letter()
    [original] = [e for e in api.events() if isinstance(e, JobPushed)]
    # When it is replayed
    r = api.client.post(f"/api/dead-letters/{job_id}/replay", headers=api.t1)
    # Then 201 as POST /api/jobs answers, for a new job
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["job_id"] != job_id and body["replay_of"] == job_id and body["queue_id"] == original.queue_id
    assert body["scheduled_at"] == "2026-04-10T14:05:00+00:00"
    # And the log holds the replay mark on the dead letter and the fresh job's push: attempt 1, due now, same request
    replayed, pushed = api.events()[-2:]
    assert isinstance(replayed, DeadLetterReplayed) and replayed.job_id == recuro_job_key(job_id)
    assert isinstance(pushed, JobPushed) and pushed.integer_id == body["job_id"] == replayed.replay_integer_id
    assert (pushed.attempt_number, pushed.scheduled_at, pushed.retry_of) == (1, NOW, None)
    assert (pushed.request, pushed.queue, pushed.payload) == (original.request, original.queue, original.payload)
    assert pushed.callback_url == original.callback_url
    # And once projected, the dead letter is not listed and the fresh job reads back
    api.project()
    assert api.client.get("/api/dead-letters", headers=api.t1).json()["data"] == []
    assert api.client.get(f"/api/jobs/{body['job_id']}", headers=api.t1).status_code == 200


def test_a_second_replay_is_a_conflict_naming_the_first(api: Api) -> None:
    # Given a dead letter replayed once
    job_id = api.dead_letter()
    first = api.client.post(f"/api/dead-letters/{job_id}/replay", headers=api.t1).json()
    api.project()
    # When it is replayed again
    r = api.client.post(f"/api/dead-letters/{job_id}/replay", headers=api.t1)
    # Then 409, naming the job it became
    assert r.status_code == 409 and str(first["job_id"]) in r.json()["message"], r.text


def test_replays_racing_past_the_read_model_name_one_job(api: Api) -> None:
    # Given a dead letter, replayed twice before the projector saw the first
    job_id = api.dead_letter()
    a = api.client.post(f"/api/dead-letters/{job_id}/replay", headers=api.t1).json()
    b = api.client.post(f"/api/dead-letters/{job_id}/replay", headers=api.t1).json()
    # Then both name the same job, pushed with the same event id (one job in the read model)
    assert a["job_id"] == b["job_id"]
    pushes = [e for e in api.events() if isinstance(e, JobPushed) and e.integer_id == a["job_id"]]
    assert len({p.event_id for p in pushes}) == 1


def test_another_tenants_or_an_unknown_dead_letter_is_404(api: Api) -> None:
    # Given t1's dead letter
    job_id = api.dead_letter()
    # Then t2 can neither replay nor delete it, and unknown ids are 404 too
    for method, path in (
        ("POST", f"/api/dead-letters/{job_id}/replay"),
        ("DELETE", f"/api/dead-letters/{job_id}"),
        ("POST", "/api/dead-letters/12345/replay"),
    ):
        r = api.client.request(method, path, headers=api.t2)
        assert r.status_code == 404 and set(r.json()) == {"message"}, (method, path, r.text)
    # And a pending (not dead-lettered) job is not a dead letter
    pending = api.client.post("/api/jobs", json={"queue": "q", "url": TARGET, "delay": 600}, headers=api.t1).json()
    api.project()
    assert api.client.post(f"/api/dead-letters/{pending['job_id']}/replay", headers=api.t1).status_code == 404


def test_bulk_replay_by_queue_and_by_ids(api: Api) -> None:
    # Given two dead letters in "emails" and one in "sms"
    a = api.dead_letter("emails", at=NOW)
    b = api.dead_letter("emails", at=NOW + S)
    c = api.dead_letter("sms")
    # When the emails queue is replayed
    r = api.client.post("/api/dead-letters/replay", json={"queue": "emails"}, headers=api.t1)
    # Then both of its dead letters, oldest first, become fresh jobs
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 2 and [j["replay_of"] for j in body["jobs"]] == [a, b] and body["remaining"] == 0
    api.project()
    # And listing ids: the sms one is replayed, the replayed one and an unknown one are skipped with the reason
    r = api.client.post("/api/dead-letters/replay", json={"job_ids": [c, a, 999]}, headers=api.t1)
    body = r.json()
    assert [j["replay_of"] for j in body["jobs"]] == [c]
    assert body["skipped"] == [
        {"job_id": a, "reason": "already_replayed"},
        {"job_id": 999, "reason": "not_found"},
    ]


def test_bulk_replay_takes_exactly_one_selector_and_at_most_1000_ids(api: Api) -> None:
    for body, field in (
        ({}, "queue"),
        ({"queue": "q", "job_ids": [1]}, "job_ids"),
        ({"job_ids": []}, "job_ids"),
        ({"job_ids": list(range(1, 1002))}, "job_ids"),
        ({"job_ids": ["x"]}, "job_ids.0"),
    ):
        assert_laravel_422(api.client.post("/api/dead-letters/replay", json=body, headers=api.t1), field)


def test_another_tenants_ids_are_skipped_by_a_bulk_replay(api: Api) -> None:
    # Given t1's dead letter
    job_id = api.dead_letter()
    # When t2 lists it for a bulk replay
    body = api.client.post("/api/dead-letters/replay", json={"job_ids": [job_id]}, headers=api.t2).json()
    # Then nothing is replayed
    assert body["count"] == 0 and body["skipped"] == [{"job_id": job_id, "reason": "not_found"}]
    assert not any(isinstance(e, DeadLetterReplayed) for e in api.events())


# -- delete and purge -------------------------------------------------------------------------------------------
def test_a_deleted_dead_letter_is_gone_from_every_read(api: Api) -> None:
    # Given a dead letter with a recorded run
    job_id = api.dead_letter()
    assert api.client.get(f"/api/jobs/{job_id}", headers=api.t1).status_code == 200
    # When it is deleted
    r = api.client.delete(f"/api/dead-letters/{job_id}", headers=api.t1)
    # Then 204, one JobPurged keyed by the job
    assert r.status_code == 204, r.text
    purged = api.events()[-1]
    assert isinstance(purged, JobPurged) and (purged.job_id, purged.reason) == (recuro_job_key(job_id), "deleted")
    # And once projected, the job, its runs and the dead letter are gone
    api.project()
    assert api.client.get(f"/api/jobs/{job_id}", headers=api.t1).status_code == 404
    assert api.ctx.store.runs(recuro_job_key(job_id)) == []
    assert api.client.get("/api/dead-letters", headers=api.t1).json()["data"] == []
    assert api.client.delete(f"/api/dead-letters/{job_id}", headers=api.t1).status_code == 404


def test_a_queue_purge_deletes_that_queues_dead_letters(api: Api) -> None:
    # Given two dead letters in "emails" and one in "sms"
    a = api.dead_letter("emails", at=NOW)
    b = api.dead_letter("emails", at=NOW + S)
    c = api.dead_letter("sms")
    # When the emails queue is purged
    r = api.client.delete("/api/dead-letters", params={"queue": "emails"}, headers=api.t1)
    # Then its two are purged, oldest first, and the sms one stays
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "purged": 2, "job_ids": [a, b], "remaining": 0}
    api.project()
    assert [d["job_id"] for d in api.client.get("/api/dead-letters", headers=api.t1).json()["data"]] == [c]
    # And another tenant's purge of the same name touches none of t1's
    assert api.client.delete("/api/dead-letters?queue=sms", headers=api.t2).json()["purged"] == 0


def test_a_purge_without_a_queue_is_422(api: Api) -> None:
    body = assert_laravel_422(api.client.delete("/api/dead-letters", headers=api.t1), "queue")
    assert body["message"] == "The queue field is required."


def test_a_bulk_replay_past_the_size_budget_defers_the_rest(tmp_path: Path) -> None:
    # Given three dead letters and a batch budget that one replay's push fills
    log = InMemoryEventLog()
    settings = Settings(data_dir=tmp_path, egress_allow="127.0.0.2/32", max_batch_request_bytes=1024)
    ctx = build_context(settings, FixedClock(NOW), log=log)
    token = {"Authorization": f"Bearer {create_token(ctx.engine, 't1')}"}
    with TestClient(create_app(ctx)) as client:
        api = Api(client, ctx, log, token, token)
        ids = [api.dead_letter("emails", at=NOW + i * S, pad="x" * 700) for i in range(3)]
        # When the queue, then the ids, are replayed
        by_queue = client.post("/api/dead-letters/replay", json={"queue": "emails"}, headers=token).json()
        api.project()
        by_ids = client.post("/api/dead-letters/replay", json={"job_ids": ids}, headers=token).json()
    # Then each call replays one and says the rest are left: remaining for the queue, deferred for listed ids
    assert by_queue["count"] == 1 and by_queue["remaining"] == 2
    assert by_ids["count"] == 1
    assert by_ids["skipped"] == [
        {"job_id": ids[0], "reason": "already_replayed"},
        {"job_id": ids[2], "reason": "deferred"},
    ]
