"""A job's history through the API: ``GET /api/jobs/{id}/events``, ``/api/crons/{id}/events``, ``/jobs/{id}/events``
(FastAPI's TestClient; events projected as the projector would, tests/unit/test_ingest_api.py's harness)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from chronohook.ids import random_event_id, recuro_job_key
from schemas.events import JobDue, JobPurged, JobPushed
from tests.unit.test_ingest_api import CREATE, NOW, Api, api
from tests.unit.test_ingest_crons_runs import CRON, PAGE_META, append, make_cron, push_job, run

__all__ = ["api"]  # the fixture, shared with test_ingest_api.py

RECURO_EVENT_KEYS = {"id", "type", "occurred_at", "run_id", "schema_version", "payload"}
QUEDUP_EVENT_KEYS = RECURO_EVENT_KEYS | {"job_id"}


def handed_out(api: Api, key: str, n: int) -> JobDue:
    """The timer's JobDue for run ``n`` of ``key`` (its run id as tests/unit/test_ingest_crons_runs.py's ``run``)."""
    (push,) = [e for e in api.events() if isinstance(e, JobPushed) and e.job_id == key]
    due = NOW + timedelta(minutes=n)
    return JobDue(
        event_id=f"due_{key}_{n}", job_id=key, tenant="t1", occurred_at=due - timedelta(milliseconds=250),
        run_id=f"{key}:{int(due.timestamp() * 1000)}:1", due_at=due, request=push.request,
    )  # fmt: skip


def purge(key: str) -> JobPurged:
    at = NOW + timedelta(hours=1)
    return JobPurged(event_id=random_event_id(), job_id=key, tenant="t1", occurred_at=at, reason="deleted")


def test_a_delivered_recuro_jobs_events_list_push_due_and_success(api: Api) -> None:
    # Given a Recuro job pushed, handed out and delivered
    job_id = push_job(api)
    key = recuro_job_key(job_id)
    due = handed_out(api, key, 1)
    append(api, [due, run(key, 1, ok=True)])

    # When its events are read
    r = api.client.get(f"/api/jobs/{job_id}/events", headers=api.t1)

    # Then a Laravel page lists them oldest first, each with its type, time, run and payload
    assert r.status_code == 200, r.text
    page = r.json()
    assert set(page) == {"data", "links", "meta"} and set(page["meta"]) == PAGE_META
    assert page["meta"]["total"] == 3
    assert [e["type"] for e in page["data"]] == ["JobPushed", "JobDue", "JobSucceeded"]
    assert all(set(e) == RECURO_EVENT_KEYS for e in page["data"])
    pushed, handed, succeeded = page["data"]
    assert pushed["occurred_at"] == "2026-04-10T14:05:00.000+00:00" and pushed["run_id"] is None
    assert handed["occurred_at"] == "2026-04-10T14:05:59.750+00:00" and handed["run_id"] == due.run_id
    assert succeeded["run_id"] == due.run_id and succeeded["payload"]["outcome"]["response_status"] == 200
    assert pushed["payload"]["queue"] == "emails" and pushed["schema_version"] >= 1


def test_a_purged_recuro_jobs_events_answer_after_the_job_is_gone(api: Api) -> None:
    # Given a Recuro job that ran, then was purged (its dead letter deleted)
    job_id = push_job(api)
    key = recuro_job_key(job_id)
    append(api, [run(key, 1, ok=False), purge(key)])
    assert api.client.get(f"/api/jobs/{job_id}", headers=api.t1).status_code == 404

    # When its events are read, by its tenant and by another
    mine = api.client.get(f"/api/jobs/{job_id}/events", headers=api.t1)
    theirs = api.client.get(f"/api/jobs/{job_id}/events", headers=api.t2)

    # Then its tenant reads the history, the purge last; the other tenant a 404
    assert mine.status_code == 200, mine.text
    assert [e["type"] for e in mine.json()["data"]] == ["JobPushed", "JobFailed", "JobPurged"]
    assert mine.json()["data"][-1]["payload"] == {"reason": "deleted"}
    assert theirs.status_code == 404 and theirs.json() == {"message": "Job not found."}


def test_recuro_events_are_404_for_another_tenant_an_unknown_or_a_non_integer_id(api: Api) -> None:
    # Given t1's job
    job_id = push_job(api)
    # When t2 reads its events, or t1 an unknown, a huge or a non-integer id
    for r in (
        api.client.get(f"/api/jobs/{job_id}/events", headers=api.t2),
        api.client.get(f"/api/jobs/{job_id + 7}/events", headers=api.t1),
        api.client.get(f"/api/jobs/{10**40}/events", headers=api.t1),
        api.client.get("/api/jobs/abc/events", headers=api.t1),
        api.client.get("/api/crons/abc/events", headers=api.t1),
        api.client.get(f"/api/crons/{job_id}/events", headers=api.t1),  # a job's id is no cron's
    ):
        # Then each is a 404 in Recuro's shape
        assert r.status_code == 404, r.text
        assert set(r.json()) == {"message"}


def test_recuro_events_page_as_laravel_does(api: Api) -> None:
    # Given a job with a push and four runs (five events)
    job_id = push_job(api)
    key = recuro_job_key(job_id)
    append(api, [run(key, n, ok=False) for n in range(1, 5)])

    # When they are read two per page
    pages = [
        api.client.get(f"/api/jobs/{job_id}/events", params={"per_page": 2, "page": p}, headers=api.t1).json()
        for p in (1, 2, 3, 4)
    ]

    # Then the pages cover them once, oldest first, and page 4 is empty
    seen = [e["id"] for p in pages for e in p["data"]]
    assert len(seen) == len(set(seen)) == 5
    assert [len(p["data"]) for p in pages] == [2, 2, 1, 0]
    assert pages[0]["meta"]["last_page"] == 3 and pages[0]["links"]["next"].endswith("per_page=2&page=2")


def test_a_crons_events_list_its_changes_and_answer_after_it_is_deleted(api: Api) -> None:
    # Given a cron, paused, then deleted
    cron_id = make_cron(api)
    assert api.client.patch(f"/api/crons/{cron_id}", json={"is_active": False}, headers=api.t1).status_code == 200
    api.project()
    assert api.client.delete(f"/api/crons/{cron_id}", headers=api.t1).status_code == 204
    api.project()

    # When its events are read by its tenant and another
    mine = api.client.get(f"/api/crons/{cron_id}/events", headers=api.t1)
    theirs = api.client.get(f"/api/crons/{cron_id}/events", headers=api.t2)

    # Then its tenant reads the whole history, the delete last; the other a 404
    assert mine.status_code == 200, mine.text
    assert [e["type"] for e in mine.json()["data"]] == ["JobCreated", "JobPaused", "JobDeleted"]
    assert mine.json()["data"][0]["payload"]["name"] == CRON["name"]
    assert theirs.status_code == 404 and theirs.json() == {"message": "Cron not found."}


def test_a_quedup_jobs_events_are_a_list_kept_after_a_delete(api: Api) -> None:
    # Given a QuedUp job, paused, then deleted
    created = api.client.post("/jobs", json=CREATE, headers=api.t1)
    assert created.status_code == 200, created.text
    job_id = created.json()["id"]
    api.project()
    assert api.client.post(f"/jobs/{job_id}/pause", headers=api.t1).status_code == 200
    api.project()
    assert api.client.delete(f"/jobs/{job_id}", headers=api.t1).status_code == 204
    api.project()

    # When its events are read, whole and a page at a time
    r = api.client.get(f"/jobs/{job_id}/events", headers=api.t1)
    tail = api.client.get(f"/jobs/{job_id}/events", params={"limit": 2, "offset": 1}, headers=api.t1)

    # Then a bare list answers, oldest first, RFC 3339 times, the delete last
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()
    assert [e["type"] for e in events] == ["JobCreated", "JobPaused", "JobDeleted"]
    assert all(set(e) == QUEDUP_EVENT_KEYS and e["job_id"] == job_id for e in events)
    assert events[0]["occurred_at"] == "2026-04-10T14:05:00Z"
    assert [e["type"] for e in tail.json()] == ["JobPaused", "JobDeleted"]


def test_quedup_events_are_404_for_another_tenant_an_unknown_or_another_apis_job(api: Api) -> None:
    # Given t1's QuedUp job and Recuro job
    created = api.client.post("/jobs", json=CREATE, headers=api.t1)
    job_id = created.json()["id"]
    recuro_id = push_job(api)
    # When t2 reads the QuedUp job's events, or t1 an unknown id or the Recuro job's key through /jobs
    for r in (
        api.client.get(f"/jobs/{job_id}/events", headers=api.t2),
        api.client.get("/jobs/job_01JS0000000000000000000000/events", headers=api.t1),
        api.client.get(f"/jobs/{recuro_job_key(recuro_id)}/events", headers=api.t1),
        api.client.get("/jobs/job_%00x/events", headers=api.t1),
    ):
        # Then each is a 404 in QuedUp's shape
        assert r.status_code == 404, r.text
        assert "error" in r.json()
    # And bad paging is a 422
    assert api.client.get(f"/jobs/{job_id}/events", params={"limit": 0}, headers=api.t1).status_code == 422
