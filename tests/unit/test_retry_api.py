"""The retry room at the API: PUT /jobs/{id} (QuedUp's replace), QuedUp's 15-minute timeout, and the Recuro job's
retry-chain fields (decision 0016)."""

from __future__ import annotations

from datetime import timedelta

from chronohook.ids import recuro_job_key
from chronohook.kafka.records import record_of
from schemas.events import (
    Envelope,
    JobCreated,
    JobDeadLettered,
    JobFailed,
    JobRetryScheduled,
    JobUpdated,
    RunOutcome,
)
from tests.unit.test_ingest_api import CREATE, NOW, PUSH, Api, api  # noqa: F401 - the fixture is reused
from tests.unit.test_ingest_bad_input import quedup_422


def _last(api: Api) -> Envelope:  # noqa: F811
    return api.events()[-1]


# -- QuedUp PUT /jobs/{id} ---------------------------------------------------------------------------------------
def test_put_replaces_the_whole_definition_and_clears_what_it_leaves_out(api: Api) -> None:  # noqa: F811
    # Given a QuedUp cron with a body and headers
    made = CREATE | {"body": "x", "headers": {"X-A": "1"}, "schedule": "*/5 * * * *"}
    job_id = api.client.post("/jobs", json=made, headers=api.t1).json()["id"]
    api.project()

    # When it is replaced by a one-off GET without body, headers or schedule
    new = {"method": "GET", "name": "Nightly", "url": "https://example.com/other"}
    r = api.client.put(f"/jobs/{job_id}", json=new, headers=api.t1)

    # Then the answer is the new job, due now, with the fields left out cleared
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["id"], body["name"], body["method"], body["url"]) == (job_id, "Nightly", "GET", new["url"])
    assert (body["body"], body["headers"], body["schedule"], body["status"]) == ("", {}, None, "active")
    assert body["next_run_at"] == "2026-04-10T14:05:00Z"
    # And one JobUpdated carries the full definition, with QuedUp's retries and 15-minute timeout
    event = _last(api)
    assert isinstance(event, JobUpdated)
    assert (event.request.method, event.request.body, event.request.headers, event.schedule) == ("GET", None, {}, None)
    assert event.request.timeout_seconds == 900.0
    # And a read shows it once projected
    api.project()
    assert api.client.get(f"/jobs/{job_id}", headers=api.t1).json() == body


def test_put_validates_as_create_does_and_appends_nothing_when_invalid(api: Api) -> None:  # noqa: F811
    # Given a QuedUp job
    job_id = api.client.post("/jobs", json=CREATE, headers=api.t1).json()["id"]
    api.project()
    # When it is replaced by a definition without a name, or with a bad method
    missing = api.client.put(f"/jobs/{job_id}", json={"method": "POST", "url": "https://e.com"}, headers=api.t1)
    bad = api.client.put(f"/jobs/{job_id}", json=CREATE | {"method": "TRACE"}, headers=api.t1)
    # Then both are QuedUp 422s naming the field, and only the creation is in the log
    quedup_422(missing, "name")
    quedup_422(bad, "method")
    assert len(api.log.records) == 1


def test_put_keeps_a_pause_and_moves_the_name(api: Api) -> None:  # noqa: F811
    # Given a paused job, and another job named "Taken"
    job_id = api.client.post("/jobs", json=CREATE, headers=api.t1).json()["id"]
    api.client.post("/jobs", json=CREATE | {"name": "Taken"}, headers=api.t1)
    api.project()
    api.client.post(f"/jobs/{job_id}/pause", headers=api.t1)
    api.project()

    # When it is replaced under the taken name, then under a free one
    taken = api.client.put(f"/jobs/{job_id}", json=CREATE | {"name": "Taken"}, headers=api.t1)
    moved = api.client.put(f"/jobs/{job_id}", json=CREATE | {"name": "Fresh"}, headers=api.t1)

    # Then the taken name is a 409, the free one is taken and the job stays paused
    assert taken.status_code == 409, taken.text
    assert (moved.status_code, moved.json()["name"], moved.json()["status"]) == (200, "Fresh", "paused")
    # And the old name is free again
    assert api.client.post("/jobs", json=CREATE, headers=api.t1).status_code == 200


def test_put_of_another_tenants_job_is_404(api: Api) -> None:  # noqa: F811
    # Given t1's job
    job_id = api.client.post("/jobs", json=CREATE, headers=api.t1).json()["id"]
    api.project()
    # When t2 tries to replace it
    r = api.client.put(f"/jobs/{job_id}", json=CREATE, headers=api.t2)
    # Then it is not found, and nothing was appended
    assert r.status_code == 404
    assert len(api.log.records) == 1


def test_quedup_requests_time_out_after_15_minutes_on_create_and_patch(api: Api) -> None:  # noqa: F811
    # Given a QuedUp job created, then patched
    job_id = api.client.post("/jobs", json=CREATE, headers=api.t1).json()["id"]
    created = _last(api)
    api.project()
    api.client.patch(f"/jobs/{job_id}", json={"url": "https://example.com/b"}, headers=api.t1)
    patched = _last(api)
    # Then both definitions carry QuedUp's 15-minute timeout
    assert isinstance(created, JobCreated) and isinstance(patched, JobUpdated)
    assert created.request.timeout_seconds == patched.request.timeout_seconds == 900.0


# -- Recuro GET /api/jobs/{id}: the retry chain's fields ----------------------------------------------------------
def _failed_then(api: Api, job_id: int, decision: Envelope) -> dict[str, object]:  # noqa: F811
    key = recuro_job_key(job_id)
    run = f"{key}:1:1"
    outcome = RunOutcome(
        run_id=run, attempt=1, due_at=NOW, started_at=NOW, finished_at=NOW, duration_ms=1.0, request_headers={},
        request_body=None, response_status=500,
    )  # fmt: skip
    failed = JobFailed(
        event_id="f", job_id=key, tenant="t1", occurred_at=NOW, outcome=outcome, failure_reason="http_server_error"
    )
    api.log.records.extend([record_of(failed), record_of(decision)])
    api.project()
    body: dict[str, object] = api.client.get(f"/api/jobs/{job_id}", headers=api.t1).json()
    return body


def test_a_recuro_original_shows_retrying_then_dead_lettered_with_the_time(api: Api) -> None:  # noqa: F811
    # Given a pushed job whose first attempt failed with a retry scheduled
    job_id = api.client.post("/api/jobs", json=PUSH, headers=api.t1).json()["job_id"]
    key = recuro_job_key(job_id)
    retry = JobRetryScheduled(
        event_id="r", job_id=key, tenant="t1", occurred_at=NOW, failed_run_id=f"{key}:1:1", next_attempt=2,
        retry_at=NOW + timedelta(seconds=60), retry_job_id=recuro_job_key(job_id + 7),
    )  # fmt: skip
    body = _failed_then(api, job_id, retry)
    # Then it reads failed, retrying, with a retry pending that names the retry job
    assert (body["status"], body["final_status"], body["has_pending_retry"]) == ("failed", "retrying", True)
    assert (body["retry_job_id"], body["is_retry"], body["retry_of"], body["attempt_number"]) == (
        job_id + 7,
        False,
        None,
        1,
    )
    assert body["dead_lettered_at"] is None

    # When its retries run out (announced on the original)
    at = NOW + timedelta(hours=4)
    dead = JobDeadLettered(
        event_id="d",
        job_id=key,
        tenant="t1",
        occurred_at=at,
        failed_run_id="x:1:4",
        attempts=4,
        final_status="dead_lettered",
    )
    api.log.records.append(record_of(dead))
    api.project()
    body = api.client.get(f"/api/jobs/{job_id}", headers=api.t1).json()

    # Then it reads dead_lettered, with the time, and nothing pending
    assert (body["final_status"], body["has_pending_retry"]) == ("dead_lettered", False)
    assert body["dead_lettered_at"] == "2026-04-10T18:05:00+00:00"


def test_a_recuro_job_whose_queue_has_retries_off_reads_failed_no_retries(api: Api) -> None:  # noqa: F811
    # Given a pushed job whose only attempt failed with retries off
    job_id = api.client.post("/api/jobs", json=PUSH, headers=api.t1).json()["job_id"]
    key = recuro_job_key(job_id)
    off = JobDeadLettered(
        event_id="d", job_id=key, tenant="t1", occurred_at=NOW, failed_run_id=f"{key}:1:1", attempts=1,
        final_status="failed_no_retries",
    )  # fmt: skip
    body = _failed_then(api, job_id, off)
    # Then it reads failed_no_retries, with no dead-letter time
    assert (body["status"], body["final_status"], body["dead_lettered_at"]) == ("failed", "failed_no_retries", None)
