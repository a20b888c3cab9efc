"""POST /api/jobs/batch: up to 1,000 jobs, validated all or nothing, one response per job in order."""

from __future__ import annotations

from datetime import timedelta

from schemas.events import JobPushed
from tests.unit.test_ingest_api import NOW, PUSH, Api, api, assert_laravel_422

__all__ = ["api"]  # the fixture, re-exported for pytest


def test_a_batch_answers_one_response_per_job_in_order(api: Api) -> None:
    # Given three valid jobs, the second delayed by 60 s
    jobs = [PUSH | {"queue": "a"}, PUSH | {"queue": "b", "delay": 60}, PUSH | {"queue": "c"}]
    # When they are pushed as one batch
    r = api.client.post("/api/jobs/batch", json={"jobs": jobs}, headers=api.t1)
    # Then all three are accepted, answered in request order with the single-push shape
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["success"] is True and body["count"] == 3
    assert [set(j) for j in body["jobs"]] == [{"success", "queue_id", "job_id", "scheduled_at", "message"}] * 3
    events = api.events()
    assert [e.queue for e in events if isinstance(e, JobPushed)] == ["a", "b", "c"]
    assert [j["job_id"] for j in body["jobs"]] == [e.integer_id for e in events if isinstance(e, JobPushed)]
    assert len({j["job_id"] for j in body["jobs"]}) == 3
    pushed = [e for e in events if isinstance(e, JobPushed)]
    assert pushed[1].scheduled_at == NOW + timedelta(seconds=60)


def test_one_invalid_job_rejects_the_whole_batch_naming_it(api: Api) -> None:
    # Given a batch whose third job has no url and whose fourth has a delay out of range
    jobs = [PUSH, PUSH, {"queue": "q"}, PUSH | {"delay": -1}]
    # When it is pushed
    r = api.client.post("/api/jobs/batch", json={"jobs": jobs}, headers=api.t1)
    # Then nothing is appended and the 422 names each failing job by index, in Laravel's words
    body = assert_laravel_422(r, "jobs.2.url")
    assert body["errors"]["jobs.2.url"] == ["The jobs.2.url field is required."]
    assert body["errors"]["jobs.3.delay"] == ["The jobs.3.delay field must be between 0 and 86400."]
    assert api.events() == []


def test_an_empty_or_oversized_batch_is_refused(api: Api) -> None:
    # Given an empty batch and one of 1,001 jobs
    # When each is pushed
    empty = api.client.post("/api/jobs/batch", json={"jobs": []}, headers=api.t1)
    big = api.client.post("/api/jobs/batch", json={"jobs": [PUSH] * 1001}, headers=api.t1)
    missing = api.client.post("/api/jobs/batch", json={}, headers=api.t1)
    # Then each is a 422 on the jobs field and nothing is appended
    assert assert_laravel_422(empty, "jobs")["errors"]["jobs"] == ["The jobs field must have at least 1 items."]
    assert assert_laravel_422(big, "jobs")["errors"]["jobs"] == ["The jobs field must not have more than 1000 items."]
    assert assert_laravel_422(missing, "jobs")["errors"]["jobs"] == ["The jobs field is required."]
    assert api.events() == []


def test_a_batch_needs_a_token_before_anything_else(api: Api) -> None:
    # Given an invalid batch and no token
    # When it is pushed
    r = api.client.post("/api/jobs/batch", json={"jobs": [{}]})
    # Then the answer is Recuro's 401, not a validation error
    assert r.status_code == 401
    assert r.json() == {"error": "Missing authorization token"}


def test_a_broker_refusal_answers_503_for_the_batch(api: Api) -> None:
    # Given a log that refuses the next append
    api.log.fail_next = True
    # When a batch is pushed
    r = api.client.post("/api/jobs/batch", json={"jobs": [PUSH, PUSH]}, headers=api.t1)
    # Then the caller learns it was not accepted
    assert r.status_code == 503
    assert set(r.json()) == {"message"}


def test_run_at_schedules_at_the_millisecond_and_excludes_delay(api: Api) -> None:
    # Given a job for 2.25 s from now, one for the past, and one that gives both run_at and delay
    at = (NOW + timedelta(seconds=2.25)).isoformat().replace("+00:00", "Z")
    past = (NOW - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    # When they are pushed
    ok = api.client.post(
        "/api/jobs/batch", json={"jobs": [PUSH | {"run_at": at}, PUSH | {"run_at": past}]}, headers=api.t1
    )
    both = api.client.post("/api/jobs", json=PUSH | {"run_at": at, "delay": 5}, headers=api.t1)
    # Then the first is due at exactly that time, the past one now, and the mix is refused
    assert ok.status_code == 201, ok.text
    pushed = [e for e in api.events() if isinstance(e, JobPushed)]
    assert [p.scheduled_at for p in pushed] == [NOW + timedelta(seconds=2.25), NOW]
    assert assert_laravel_422(both, "run_at")["errors"]["run_at"] == ["The run_at field cannot be combined with delay."]
