"""Time zones, seconds-field expressions and catch-up policies at the API (chronohook extensions, decision 0025).

QuedUp jobs (``POST/PUT/PATCH /jobs``) and Recuro crons (``POST/PATCH /api/crons``) take an optional IANA
``timezone`` (UTC by default) and ``catch_up`` (``latest`` by default), validated as any other field, carried by the
events and echoed by every answer. ``next_run_at`` in a write's answer is ingest's, from the same
``Schedule.next_after`` the timer decides with. The ingest app runs on a fixed clock: 2026-04-10T14:05:00Z (10:05
in New York, EDT).
"""

from __future__ import annotations

import pytest

from schemas.events import JobCreated, JobResumed, JobUpdated
from tests.unit.test_ingest_api import CREATE, Api, api  # noqa: F401 - the fixture is reused
from tests.unit.test_ingest_bad_input import CRON, quedup_422, recuro_422

NY = "America/New_York"


def test_a_quedup_job_in_new_york_runs_at_nine_new_york_time(api: Api) -> None:  # noqa: F811
    # Given a daily 09:00 job in New York
    r = api.client.post("/jobs", json=CREATE | {"schedule": "0 9 * * *", "timezone": NY}, headers=api.t1)
    # Then the answer echoes the zone and the default policy, and next_run_at is 09:00 EDT tomorrow (13:00 UTC)
    assert r.status_code == 200, r.text
    job = r.json()
    assert (job["timezone"], job["catch_up"], job["next_run_at"]) == (NY, "latest", "2026-04-11T13:00:00Z")
    # And the event carries the zone, the policy and ingest's first run
    [event] = api.events()
    assert isinstance(event, JobCreated)
    assert (event.timezone, event.catch_up, event.schedule) == (NY, "latest", "0 9 * * *")
    assert event.next_run_at is not None and event.next_run_at.isoformat() == "2026-04-11T13:00:00+00:00"
    # And GET reads the same
    api.project()
    assert api.client.get(f"/jobs/{job['id']}", headers=api.t1).json() == job


def test_a_seconds_field_schedule_and_skip_policy(api: Api) -> None:  # noqa: F811
    # Given a job every two seconds (6 fields, seconds first) that skips what downtime misses
    body = CREATE | {"schedule": "*/2 * * * * *", "catch_up": "skip"}
    r = api.client.post("/jobs", json=body, headers=api.t1)
    # Then it is accepted, next due at the next even second, in UTC
    assert r.status_code == 200, r.text
    assert (r.json()["next_run_at"], r.json()["timezone"], r.json()["catch_up"]) == (
        "2026-04-10T14:05:02Z",
        "UTC",
        "skip",
    )


def test_patch_and_put_change_or_reset_the_zone(api: Api) -> None:  # noqa: F811
    # Given a 09:00 UTC job
    job = api.client.post("/jobs", json=CREATE | {"schedule": "0 9 * * *"}, headers=api.t1).json()
    assert job["next_run_at"] == "2026-04-11T09:00:00Z"
    api.project()
    # When only its zone is patched to Europe/London
    r = api.client.patch(f"/jobs/{job['id']}", json={"timezone": "Europe/London"}, headers=api.t1)
    # Then the schedule stays and runs at 09:00 BST (08:00 UTC)
    assert r.status_code == 200, r.text
    assert (r.json()["schedule"], r.json()["timezone"], r.json()["next_run_at"]) == (
        "0 9 * * *", "Europe/London", "2026-04-11T08:00:00Z"
    )  # fmt: skip
    updated = api.events()[-1]
    assert isinstance(updated, JobUpdated) and updated.timezone == "Europe/London"
    api.project()
    # When the zone is patched to null, it is UTC again
    r = api.client.patch(f"/jobs/{job['id']}", json={"timezone": None, "catch_up": "skip"}, headers=api.t1)
    assert (r.json()["timezone"], r.json()["catch_up"], r.json()["next_run_at"]) == ("UTC", "skip", job["next_run_at"])
    api.project()
    # When the job is replaced without a zone, the defaults come back
    r = api.client.put(f"/jobs/{job['id']}", json=CREATE | {"schedule": "0 9 * * *"}, headers=api.t1)
    assert (r.json()["timezone"], r.json()["catch_up"]) == ("UTC", "latest")


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", "The timezone field must be a valid IANA time zone"),
        ({"timezone": "../../etc/passwd"}, "timezone", "The timezone field must be a valid IANA time zone"),
        ({"timezone": 5}, "timezone", "The timezone field must be a string."),
        ({"catch_up": "all"}, "catch_up", "The selected catch_up is invalid."),
        ({"schedule": "60 * * * * *"}, "schedule", "The schedule field must be a valid cron expression"),
        ({"schedule": "* * * * * * *"}, "schedule", "The schedule field must be a valid cron expression"),
    ],
)
def test_invalid_zone_policy_or_expression_is_a_quedup_422(
    api: Api,  # noqa: F811
    change: dict[str, object],
    field: str,
    message: str,
) -> None:
    # Given a scheduled job with one invalid new field
    r = api.client.post("/jobs", json=CREATE | {"schedule": "0 9 * * *"} | change, headers=api.t1)
    # Then it is QuedUp's 422 naming that field, as for any other field, and nothing is appended
    [error] = quedup_422(r, field)
    assert error.startswith(message), error
    assert api.log.records == []


def test_a_recuro_cron_in_a_zone_echoes_it_everywhere(api: Api) -> None:  # noqa: F811
    # Given a Recuro cron at 09:00 New York time that skips missed runs
    r = api.client.post("/api/crons", json=CRON | {"cron_expression": "0 9 * * *", "timezone": NY, "catch_up": "skip"},
                        headers=api.t1)  # fmt: skip
    # Then the 201 echoes both and the next run is 09:00 EDT (Recuro's +00:00 format)
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["timezone"], created["catch_up"]) == (NY, "skip")
    assert created["next_run_at"] == "2026-04-11T13:00:00+00:00"
    # And GET and the list echo them
    api.project()
    got = api.client.get(f"/api/crons/{created['id']}", headers=api.t1).json()
    assert (got["timezone"], got["catch_up"], got["next_run_at"]) == (NY, "skip", created["next_run_at"])
    listed = api.client.get("/api/crons", headers=api.t1).json()["data"]
    assert [(c["id"], c["timezone"]) for c in listed] == [(created["id"], NY)]
    # When it is moved to Tokyo by a PATCH
    r = api.client.patch(f"/api/crons/{created['id']}", json={"timezone": "Asia/Tokyo"}, headers=api.t1)
    # Then it runs at 09:00 JST (00:00 UTC) and keeps its policy
    assert r.status_code == 200, r.text
    assert (r.json()["timezone"], r.json()["catch_up"], r.json()["next_run_at"]) == (
        "Asia/Tokyo", "skip", "2026-04-11T00:00:00+00:00"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field"),
    [({"timezone": "Not/AZone"}, "timezone"), ({"timezone": None}, "timezone"), ({"catch_up": "never"}, "catch_up")],
)
def test_invalid_zone_or_policy_is_a_recuro_422(api: Api, change: dict[str, object], field: str) -> None:  # noqa: F811
    # Given a cron create and a cron PATCH with one invalid field (a cron's zone cannot be null: it always has one)
    create = api.client.post("/api/crons", json=CRON | change, headers=api.t1)
    # Then the create is Laravel's 422 naming it, and nothing is appended
    if change[field] is not None:
        assert recuro_422(create, field)
        assert api.log.records == []
    cron_id = api.client.post("/api/crons", json=CRON, headers=api.t1).json()["id"]
    api.project()
    patch = api.client.patch(f"/api/crons/{cron_id}", json=change, headers=api.t1)
    assert recuro_422(patch, field)


def test_resuming_answers_the_next_occurrence_in_the_zone(api: Api) -> None:  # noqa: F811
    # Given a paused 09:00 New York QuedUp job
    job = api.client.post("/jobs", json=CREATE | {"schedule": "0 9 * * *", "timezone": NY}, headers=api.t1).json()
    api.project()
    assert api.client.post(f"/jobs/{job['id']}/pause", headers=api.t1).status_code == 200
    api.project()
    # When it is resumed three days later, at 14:05 UTC (10:05 EDT)
    api.clock.advance(3 * 86_400)
    r = api.client.post(f"/jobs/{job['id']}/resume", headers=api.t1)
    # Then the answer names the next 09:00 New York time after the resume (the missed ones are skipped)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["next_run_at"]) == ("active", "2026-04-14T13:00:00Z")
    assert isinstance(api.events()[-1], JobResumed)
