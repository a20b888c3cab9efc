"""Recuro cron management (list, read, update, pause, delete) and every API's runs, through FastAPI's TestClient.

Events are projected into the store as the projector would (tests/unit/test_ingest_api.py's harness); runs are
recorded by appending the executor's JobSucceeded / JobFailed to the in-memory log.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chronohook.ids import recuro_cron_key, recuro_job_key
from schemas.events import (
    Envelope,
    JobDeleted,
    JobFailed,
    JobPaused,
    JobPushed,
    JobResumed,
    JobRetryScheduled,
    JobScheduled,
    JobSucceeded,
    JobUpdated,
    RunOutcome,
)
from tests.unit.test_ingest_api import NOW, PUSH, Api, api, assert_laravel_422

__all__ = ["api"]  # the fixture, shared with test_ingest_api.py

CRON = {"name": "nightly", "url": "https://example.com/n", "cron_expression": "0 3 * * *"}
FULL_CRON = CRON | {
    "method": "PUT",
    "headers": {"X-Env": "prod"},
    "payload": "raw body",
    "callback_url": "https://example.com/cb",
    "timeout_seconds": 45,
    "alert_threshold": 2,
    "success_assertions": [{"type": "status_code_equals", "value": "200"}],
    "timezone": "Europe/London",
    "catch_up": "skip",
}
CRON_KEYS = {
    "id", "name", "url", "method", "headers", "payload", "cron_expression", "callback_url", "timeout_seconds",
    "alert_threshold", "success_assertions", "is_active", "next_run_at", "last_run_at", "created_at", "updated_at",
    "timezone", "catch_up",
}  # fmt: skip
RUN_KEYS = {
    "job_id", "run_id", "attempt_number", "status", "response_status", "response_body", "response_headers",
    "response_truncated", "request_headers", "request_body", "due_at", "started_at", "executed_at", "duration_ms",
    "error_message", "failure_reason",
    "delayed_by_ms",  # chronohook extension: the tenant delivery budget's delay (decision 0028)
}  # fmt: skip
PAGE_META = {"current_page", "from", "last_page", "path", "per_page", "to", "total"}


def make_cron(api: Api, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> int:
    r = api.client.post("/api/crons", json=body or CRON, headers=headers or api.t1)
    assert r.status_code == 201, r.text
    api.project()
    cron_id: int = r.json()["id"]
    return cron_id


def push_job(api: Api) -> int:
    r = api.client.post("/api/jobs", json=PUSH, headers=api.t1)
    assert r.status_code == 201, r.text
    api.project()
    job_id: int = r.json()["job_id"]
    return job_id


def append(api: Api, events: list[Envelope]) -> None:
    asyncio.run(api.log.append(events))
    api.project()


def run(job_key: str, n: int, ok: bool, tenant: str = "t1", attempt: int = 1) -> JobSucceeded | JobFailed:
    """The executor's result of run ``n`` of ``job_key``: due n minutes after NOW, 120 ms long."""
    due = NOW + timedelta(minutes=n)
    outcome = RunOutcome(
        run_id=f"{job_key}:{int(due.timestamp() * 1000)}:{attempt}",
        attempt=attempt,
        due_at=due,
        started_at=due,
        finished_at=due + timedelta(milliseconds=120),
        duration_ms=120.0,
        request_headers={"User-Agent": "chronohook/0.1", "webhook-id": f"msg_{n}"},
        request_body=f'{{"n":{n}}}',
        response_status=200 if ok else 503,
        response_headers={"Content-Type": "text/plain"},
        response_body="ok" if ok else "x" * 16_384,
        response_truncated=not ok,
    )
    envelope: dict[str, Any] = dict(event_id=f"e_{job_key}_{n}", job_id=job_key, tenant=tenant, occurred_at=due)
    if ok:
        return JobSucceeded(**envelope, outcome=outcome)
    return JobFailed(**envelope, outcome=outcome, failure_reason="http_server_error", error_message="HTTP 503")


def appended_since(api: Api, before: int) -> list[Envelope]:
    return api.events()[before:]


# -- GET /api/crons/{id} -----------------------------------------------------------------------------------------
def test_a_cron_reads_back_with_every_field_it_was_created_with(api: Api) -> None:
    # Given a cron created with every field
    cron_id = make_cron(api, FULL_CRON)

    # When it is read
    r = api.client.get(f"/api/crons/{cron_id}", headers=api.t1)

    # Then Recuro's cron object answers, with what was sent
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == CRON_KEYS
    assert body | {"next_run_at": None} == {
        "id": cron_id, "name": "nightly", "url": "https://example.com/n", "method": "PUT",
        "headers": {"X-Env": "prod"}, "payload": "raw body", "cron_expression": "0 3 * * *",
        "callback_url": "https://example.com/cb", "timeout_seconds": 45, "alert_threshold": 2,
        "success_assertions": [{"type": "status_code_equals", "value": "200"}], "is_active": True,
        "next_run_at": None, "last_run_at": None, "created_at": "2026-04-10T14:05:00+00:00",
        "updated_at": "2026-04-10T14:05:00+00:00", "timezone": "Europe/London", "catch_up": "skip",
    }  # fmt: skip
    # And the next run is tomorrow's 03:00 London time (BST: 02:00 UTC)
    assert body["next_run_at"] == "2026-04-11T02:00:00+00:00"


def test_a_cron_created_paused_reads_inactive_with_no_next_run(api: Api) -> None:
    # Given a cron created with is_active false
    cron_id = make_cron(api, CRON | {"is_active": False})
    # When it is read
    body = api.client.get(f"/api/crons/{cron_id}", headers=api.t1).json()
    # Then it is inactive, and nothing is due
    assert (body["is_active"], body["next_run_at"]) == (False, None)


@pytest.mark.parametrize("path", ["/api/crons/{id}", "/api/crons/{id}/runs"])
def test_another_tenants_or_an_unknown_cron_is_404(api: Api, path: str) -> None:
    # Given t1's cron
    cron_id = make_cron(api)
    # When t2 reads it, or anyone reads an unknown or non-integer id
    answers = [
        api.client.get(path.format(id=cron_id), headers=api.t2),
        api.client.get(path.format(id=cron_id + 1), headers=api.t1),
        api.client.get(path.format(id="abc"), headers=api.t1),
    ]
    # Then each is a 404 in Laravel's shape
    for r in answers:
        assert r.status_code == 404, r.text
        assert set(r.json()) == {"message"}


def test_a_recuro_job_id_is_not_a_cron(api: Api) -> None:
    # Given a Recuro job (its id is not a cron's)
    job_id = push_job(api)
    # When it is read as a cron
    r = api.client.get(f"/api/crons/{job_id}", headers=api.t1)
    # Then there is no such cron
    assert r.status_code == 404


# -- GET /api/crons ----------------------------------------------------------------------------------------------
def test_the_cron_list_pages_as_laravel_does(api: Api) -> None:
    # Given three crons of t1 and one of t2
    ids = [make_cron(api, CRON | {"name": f"c{i}"}) for i in range(3)]
    make_cron(api, CRON | {"name": "other"}, headers=api.t2)

    # When t1 lists them two per page
    first = api.client.get("/api/crons", params={"per_page": 2}, headers=api.t1)
    second = api.client.get("/api/crons", params={"per_page": 2, "page": 2}, headers=api.t1)
    past = api.client.get("/api/crons", params={"per_page": 2, "page": 3}, headers=api.t1)

    # Then the pages hold t1's crons oldest first, with Laravel's links and meta
    assert first.status_code == second.status_code == past.status_code == 200
    one, two, three = first.json(), second.json(), past.json()
    assert set(one) == {"data", "links", "meta"} and set(one["meta"]) == PAGE_META
    assert [c["id"] for c in one["data"]] + [c["id"] for c in two["data"]] == ids
    assert set(one["data"][0]) == CRON_KEYS
    assert {k: one["meta"][k] for k in ("current_page", "from", "to", "last_page", "per_page", "total")} == {
        "current_page": 1, "from": 1, "to": 2, "last_page": 2, "per_page": 2, "total": 3,
    }  # fmt: skip
    assert one["meta"]["path"] == "http://testserver/api/crons"
    assert one["links"]["prev"] is None and one["links"]["next"].endswith("page=2")
    assert "per_page=2" in one["links"]["next"] and one["links"]["last"].endswith("page=2")
    assert (two["meta"]["from"], two["meta"]["to"], two["links"]["next"]) == (3, 3, None)
    assert two["links"]["prev"].endswith("page=1")
    # And a page past the end is empty, not an error
    assert (three["data"], three["meta"]["from"], three["meta"]["to"], three["meta"]["total"]) == ([], None, None, 3)


def test_the_cron_list_defaults_to_15_per_page_and_an_empty_tenant_has_one_empty_page(api: Api) -> None:
    # Given no crons at all
    # When the list is read without paging parameters, and on an absurdly far page
    r = api.client.get("/api/crons", headers=api.t1)
    far = api.client.get("/api/crons", params={"page": 10**20}, headers=api.t1)
    # Then it is one empty page of 15
    meta = r.json()["meta"]
    assert (r.json()["data"], meta["per_page"], meta["last_page"], meta["total"]) == ([], 15, 1, 0)
    assert far.status_code == 200 and far.json()["data"] == []


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"page": 0}, "page", "The page field must be at least 1."),
        ({"per_page": 0}, "per_page", "The per_page field must be at least 1."),
        ({"per_page": 101}, "per_page", "The per_page field must not be greater than 100."),
        ({"page": "x"}, "page", "The page field must be an integer."),
    ],
)
@pytest.mark.parametrize("path", ["/api/crons", "/api/jobs/{job}/runs", "/api/crons/{cron}/runs"])
def test_bad_paging_is_a_laravel_422(api: Api, path: str, params: dict[str, Any], field: str, message: str) -> None:
    # Given a job and a cron
    url = path.format(job=push_job(api), cron=make_cron(api))
    # When a list is asked for with paging out of bounds
    r = api.client.get(url, params=params, headers=api.t1)
    # Then it is a 422 naming the parameter
    body = assert_laravel_422(r, field)
    assert body["errors"][field] == [message]


# -- PATCH /api/crons/{id} ---------------------------------------------------------------------------------------
def test_patch_changes_the_fields_given_and_appends_the_full_definition(api: Api) -> None:
    # Given a cron with every field
    cron_id = make_cron(api, FULL_CRON)
    before = len(api.log.records)
    api.clock.advance(60)

    # When its url and schedule are patched
    change = {"url": "https://example.com/v2", "cron_expression": "*/10 * * * *"}
    r = api.client.patch(f"/api/crons/{cron_id}", json=change, headers=api.t1)

    # Then the answer is the cron with the new fields and every other one kept
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["url"], body["cron_expression"], body["next_run_at"]) == (
        "https://example.com/v2", "*/10 * * * *", "2026-04-10T14:10:00+00:00",
    )  # fmt: skip
    assert body["headers"] == {"X-Env": "prod"} and body["payload"] == "raw body" and body["alert_threshold"] == 2
    assert body["updated_at"] == "2026-04-10T14:06:00+00:00"
    # And exactly one JobUpdated carries the whole new definition
    (event,) = appended_since(api, before)
    assert isinstance(event, JobUpdated)
    assert (event.job_id, event.tenant, event.api, event.active) == (
        recuro_cron_key(cron_id),
        "t1",
        "recuro_cron",
        True,
    )
    assert (event.request.url, event.request.method, event.request.body, event.request.timeout_seconds) == (
        "https://example.com/v2", "PUT", "raw body", 45.0,
    )  # fmt: skip
    assert event.schedule == "*/10 * * * *" and event.callback_url == "https://example.com/cb"
    assert event.alert_threshold == 2 and len(event.request.assertions) == 1
    # And the projected cron reads the same as the answer
    api.project()
    assert api.client.get(f"/api/crons/{cron_id}", headers=api.t1).json() == body


def test_patch_null_clears_the_optional_fields(api: Api) -> None:
    # Given a cron with headers, payload, callback and alert threshold
    cron_id = make_cron(api, FULL_CRON)
    # When they are patched to null
    nulls = {"headers": None, "payload": None, "callback_url": None, "alert_threshold": None}
    r = api.client.patch(f"/api/crons/{cron_id}", json=nulls, headers=api.t1)
    # Then they are cleared
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in nulls} == {"headers": {}, "payload": None, "callback_url": None,
                                                "alert_threshold": None}  # fmt: skip


def test_pause_and_resume_by_is_active(api: Api) -> None:
    # Given an active cron
    cron_id = make_cron(api)
    before = len(api.log.records)

    # When it is patched inactive
    paused = api.client.patch(f"/api/crons/{cron_id}", json={"is_active": False}, headers=api.t1)

    # Then only a JobPaused is appended, and it reads inactive with no next run
    assert paused.status_code == 200, paused.text
    assert [type(e) for e in appended_since(api, before)] == [JobPaused]
    api.project()
    read = api.client.get(f"/api/crons/{cron_id}", headers=api.t1).json()
    assert (read["is_active"], read["next_run_at"]) == (False, None) == (paused.json()["is_active"], None)

    # When it is patched inactive again, nothing more is appended
    count = len(api.log.records)
    assert api.client.patch(f"/api/crons/{cron_id}", json={"is_active": False}, headers=api.t1).status_code == 200
    assert len(api.log.records) == count

    # When it is resumed a day later
    api.clock.advance(86_400)
    resumed = api.client.patch(f"/api/crons/{cron_id}", json={"is_active": True}, headers=api.t1)

    # Then a JobResumed is appended and the answer's next run is the next occurrence after now (missed ones skipped)
    assert [type(e) for e in appended_since(api, count)] == [JobResumed]
    assert (resumed.json()["is_active"], resumed.json()["next_run_at"]) == (True, "2026-04-12T03:00:00+00:00")
    # And once the timer says so (its JobScheduled: the read model copies instants, never computes them), the cron
    # reads as the answer did
    at = datetime(2026, 4, 12, 3, 0, tzinfo=UTC)
    resume = appended_since(api, count)[0]
    told = JobScheduled(
        event_id="evt_told", job_id=resume.job_id, tenant="t1", occurred_at=resume.occurred_at, next_run_at=at,
        reason="resumed", cause_event_id=resume.event_id,
    )  # fmt: skip
    append(api, [told])
    read = api.client.get(f"/api/crons/{cron_id}", headers=api.t1).json()
    assert resumed.json() == read


def test_is_active_with_other_fields_is_one_atomic_change(api: Api) -> None:
    # Given an active cron
    cron_id = make_cron(api)
    before = len(api.log.records)

    # When it is renamed and paused in one PATCH
    r = api.client.patch(f"/api/crons/{cron_id}", json={"name": "renamed", "is_active": False}, headers=api.t1)

    # Then the JobUpdated already says inactive, and a JobPaused follows it (for consumers that fold pauses)
    assert r.status_code == 200, r.text
    updated, pause = appended_since(api, before)
    assert isinstance(updated, JobUpdated) and updated.active is False and updated.name == "renamed"
    assert isinstance(pause, JobPaused)
    api.project()
    read = api.client.get(f"/api/crons/{cron_id}", headers=api.t1).json()
    assert (read["name"], read["is_active"], read["next_run_at"]) == ("renamed", False, None)
    assert r.json() == read


def test_an_empty_patch_changes_nothing(api: Api) -> None:
    # Given a cron
    cron_id = make_cron(api)
    before = len(api.log.records)
    # When an empty object is patched (unknown fields are ignored, as at create)
    r = api.client.patch(f"/api/crons/{cron_id}", json={"colour": "red"}, headers=api.t1)
    # Then it answers the cron unchanged and appends nothing
    assert r.status_code == 200, r.text
    assert r.json() == api.client.get(f"/api/crons/{cron_id}", headers=api.t1).json()
    assert len(api.log.records) == before


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"timeout_seconds": 0}, "timeout_seconds", "The timeout_seconds field must be between 1 and 300."),
        ({"timeout_seconds": 301}, "timeout_seconds", "The timeout_seconds field must be between 1 and 300."),
        ({"cron_expression": "every minute"}, "cron_expression", None),
        ({"cron_expression": "0 0 31 2 *"}, "cron_expression", None),
        ({"name": None}, "name", "The name field is required."),
        ({"name": ""}, "name", "The name field is required."),
        ({"name": "x" * 256}, "name", "The name field must not be greater than 255 characters."),
        ({"url": None}, "url", "The url field is required."),
        ({"url": "ftp://example.com"}, "url", "The url field must be a valid URL."),
        ({"url": "http://127.0.0.1/"}, "url", None),
        ({"callback_url": "http://10.0.0.1/"}, "callback_url", None),
        ({"method": "TRACE"}, "method", None),
        ({"headers": {"Host": "internal"}}, "headers", None),
        ({"payload": "a\u0000b"}, "payload", None),
        ({"alert_threshold": 4}, "alert_threshold", "The selected alert_threshold is invalid."),
        ({"success_assertions": [{"type": "status_code_equals", "value": "200"}] * 11}, "success_assertions", None),
        ({"success_assertions": [{"type": "nope", "value": "1"}]}, "success_assertions.0.type", None),
        ({"is_active": "yes"}, "is_active", "The is_active field must be true or false."),
        ({"is_active": None}, "is_active", "The is_active field is required."),
    ],
)
def test_invalid_patches_are_laravel_422s_and_append_nothing(
    api: Api, change: dict[str, Any], field: str, message: str | None
) -> None:
    # Given a cron
    cron_id = make_cron(api)
    before = len(api.log.records)
    # When an invalid change is patched
    r = api.client.patch(f"/api/crons/{cron_id}", json=change, headers=api.t1)
    # Then it is a 422 on that field, as at create, and nothing is appended
    body = assert_laravel_422(r, field)
    if message is not None:
        assert body["errors"][field] == [message]
    assert len(api.log.records) == before


def test_a_patch_of_another_tenants_cron_is_404_and_appends_nothing(api: Api) -> None:
    # Given t1's cron
    cron_id = make_cron(api)
    before = len(api.log.records)
    # When t2 patches or deletes it
    patched = api.client.patch(f"/api/crons/{cron_id}", json={"is_active": False}, headers=api.t2)
    deleted = api.client.delete(f"/api/crons/{cron_id}", headers=api.t2)
    # Then both are 404 and nothing is appended
    assert (patched.status_code, deleted.status_code) == (404, 404)
    assert len(api.log.records) == before


# -- DELETE /api/crons/{id} --------------------------------------------------------------------------------------
def test_delete_stops_the_cron_and_every_later_read_is_404(api: Api) -> None:
    # Given a cron with a recorded run
    cron_id = make_cron(api)
    key = recuro_cron_key(cron_id)
    append(api, [run(key, 1, ok=True)])
    before = len(api.log.records)

    # When it is deleted
    r = api.client.delete(f"/api/crons/{cron_id}", headers=api.t1)

    # Then it answers 204 and appends one JobDeleted
    assert r.status_code == 204, r.text
    (event,) = appended_since(api, before)
    assert isinstance(event, JobDeleted) and event.job_id == key
    # And once projected, the cron, its runs, a patch and a second delete are 404; the list no longer holds it
    api.project()
    for method, path in [("GET", ""), ("GET", "/runs"), ("PATCH", ""), ("DELETE", "")]:
        answer = api.client.request(method, f"/api/crons/{cron_id}{path}", json={}, headers=api.t1)
        assert answer.status_code == 404, (method, path, answer.text)
    assert api.client.get("/api/crons", headers=api.t1).json()["meta"]["total"] == 0


# -- runs --------------------------------------------------------------------------------------------------------
def test_a_recuro_jobs_runs_are_listed_newest_first_with_request_and_response(api: Api) -> None:
    # Given a Recuro job with three recorded runs: failed, failed, succeeded
    job_id = push_job(api)
    key = recuro_job_key(job_id)
    append(api, [run(key, 1, ok=False), run(key, 2, ok=False), run(key, 3, ok=True)])

    # When its runs are read
    r = api.client.get(f"/api/jobs/{job_id}/runs", headers=api.t1)

    # Then all three are there, newest first, each with its request and response
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["meta"]["total"] == 3
    newest, _, oldest = page["data"]
    assert set(newest) == RUN_KEYS
    assert [d["status"] for d in page["data"]] == ["success", "failed", "failed"]
    assert newest | {"run_id": None} == {
        "job_id": job_id, "run_id": None, "attempt_number": 1, "status": "success", "response_status": 200,
        "response_body": "ok", "response_headers": {"Content-Type": "text/plain"}, "response_truncated": False,
        "request_headers": {"User-Agent": "chronohook/0.1", "webhook-id": "msg_3"}, "request_body": '{"n":3}',
        "due_at": "2026-04-10T14:08:00+00:00", "started_at": "2026-04-10T14:08:00+00:00",
        "executed_at": "2026-04-10T14:08:00+00:00", "duration_ms": 120.0, "error_message": None,
        "failure_reason": None, "delayed_by_ms": 0,
    }  # fmt: skip
    assert (oldest["failure_reason"], oldest["error_message"], oldest["response_truncated"]) == (
        "http_server_error", "HTTP 503", True,
    )  # fmt: skip
    assert len(oldest["response_body"]) == 16_384


def test_runs_page_without_overlap(api: Api) -> None:
    # Given a job with five runs
    job_id = push_job(api)
    key = recuro_job_key(job_id)
    append(api, [run(key, n, ok=True) for n in range(5)])
    # When they are read two per page, pages 1 to 4
    pages = [
        api.client.get(f"/api/jobs/{job_id}/runs", params={"per_page": 2, "page": p}, headers=api.t1).json()
        for p in range(1, 5)
    ]
    # Then every run appears once, newest first, and page 4 is empty
    seen = [d["due_at"] for page in pages for d in page["data"]]
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 5
    assert [len(p["data"]) for p in pages] == [2, 2, 1, 0]
    assert pages[0]["meta"]["last_page"] == 3 and pages[2]["links"]["next"] is None


def test_a_recuro_jobs_runs_include_its_retries(api: Api) -> None:
    # Given a job whose run failed, and its retry (a job of its own) that succeeded
    job_id = push_job(api)
    key = recuro_job_key(job_id)
    retry_id = job_id + 1
    retry_key = recuro_job_key(retry_id)
    (original,) = [e for e in api.events() if isinstance(e, JobPushed) and e.job_id == key]
    at = NOW + timedelta(minutes=1)
    envelope: dict[str, Any] = dict(tenant="t1", occurred_at=at)
    append(
        api,
        [
            run(key, 1, ok=False),
            JobRetryScheduled(**envelope, event_id="r1", job_id=key, failed_run_id="x", next_attempt=2, retry_at=at,
                              retry_job_id=retry_key),
            original.model_copy(update=dict(event_id="p2", job_id=retry_key, integer_id=retry_id, attempt_number=2,
                                            retry_of=key)),
            run(retry_key, 2, ok=True, attempt=2),
        ],
    )  # fmt: skip

    # When the original's runs and the retry's runs are read
    chain = api.client.get(f"/api/jobs/{job_id}/runs", headers=api.t1).json()
    own = api.client.get(f"/api/jobs/{retry_id}/runs", headers=api.t1).json()

    # Then the original lists both attempts, each naming its job record; the retry lists its own
    assert [(d["job_id"], d["attempt_number"], d["status"]) for d in chain["data"]] == [
        (retry_id, 2, "success"), (job_id, 1, "failed"),
    ]  # fmt: skip
    assert [d["job_id"] for d in own["data"]] == [retry_id]


def test_another_tenants_or_an_unknown_jobs_runs_are_404(api: Api) -> None:
    # Given t1's job with a run
    job_id = push_job(api)
    append(api, [run(recuro_job_key(job_id), 1, ok=True)])
    # When t2 reads its runs, or t1 reads an unknown job's
    for r in (
        api.client.get(f"/api/jobs/{job_id}/runs", headers=api.t2),
        api.client.get(f"/api/jobs/{job_id + 7}/runs", headers=api.t1),
        api.client.get("/api/jobs/abc/runs", headers=api.t1),
    ):
        # Then it is a 404 in Laravel's shape
        assert r.status_code == 404, r.text
        assert set(r.json()) == {"message"}


def test_a_job_without_runs_has_an_empty_first_page(api: Api) -> None:
    # Given a job not yet run
    job_id = push_job(api)
    # When its runs are read
    page = api.client.get(f"/api/jobs/{job_id}/runs", headers=api.t1).json()
    # Then the page is empty
    assert (page["data"], page["meta"]["total"], page["meta"]["last_page"]) == ([], 0, 1)


def test_a_crons_runs_are_listed_and_update_its_last_run(api: Api) -> None:
    # Given a cron with two recorded occurrences
    cron_id = make_cron(api)
    key = recuro_cron_key(cron_id)
    append(api, [run(key, 1, ok=True), run(key, 2, ok=False)])
    # When its runs are read
    page = api.client.get(f"/api/crons/{cron_id}/runs", headers=api.t1).json()
    # Then both are there, newest first; a cron's run names no job record; last_run_at is the newest's
    assert [(d["status"], d["job_id"]) for d in page["data"]] == [("failed", None), ("success", None)]
    cron = api.client.get(f"/api/crons/{cron_id}", headers=api.t1).json()
    assert cron["last_run_at"] == page["data"][0]["executed_at"]


def test_a_quedup_jobs_runs_are_a_plain_list_paged_by_limit_and_offset(api: Api) -> None:
    # Given a QuedUp job with three runs
    r = api.client.post("/jobs", json={"method": "POST", "name": "n", "url": "https://e.com"}, headers=api.t1)
    job_id = r.json()["id"]
    api.project()
    append(api, [run(job_id, n, ok=n != 1, attempt=n) for n in range(3)])

    # When its runs are read whole and two at a time
    whole = api.client.get(f"/jobs/{job_id}/runs", headers=api.t1)
    second = api.client.get(f"/jobs/{job_id}/runs", params={"limit": 2, "offset": 2}, headers=api.t1)

    # Then they are a list, newest first, in RFC 3339
    assert whole.status_code == 200, whole.text
    runs = whole.json()
    assert [(d["attempt"], d["status"]) for d in runs] == [(2, "success"), (1, "failed"), (0, "success")]
    assert runs[0]["id"].startswith(job_id) and runs[0]["job_id"] == job_id
    assert runs[0]["due_at"] == "2026-04-10T14:07:00Z" and runs[0]["executed_at"] == "2026-04-10T14:07:00.120Z"
    assert runs[1]["failure_reason"] == "http_server_error"
    assert [d["attempt"] for d in second.json()] == [0]


def test_quedup_runs_errors_are_in_quedups_shape(api: Api) -> None:
    # Given t1's QuedUp job and a Recuro job
    r = api.client.post("/jobs", json={"method": "POST", "name": "n", "url": "https://e.com"}, headers=api.t1)
    job_id = r.json()["id"]
    recuro = push_job(api)
    api.project()
    # When runs are read by another tenant, for a Recuro key, or with a bad limit
    other = api.client.get(f"/jobs/{job_id}/runs", headers=api.t2)
    wrong_api = api.client.get(f"/jobs/{recuro_job_key(recuro)}/runs", headers=api.t1)
    bad = api.client.get(f"/jobs/{job_id}/runs", params={"limit": 0}, headers=api.t1)
    # Then 404, 404 and a 422 naming limit, each as {"error": ...}
    assert (other.status_code, wrong_api.status_code) == (404, 404)
    assert "error" in other.json() and "error" in wrong_api.json()
    assert bad.status_code == 422 and "limit" in bad.json()["errors"]
