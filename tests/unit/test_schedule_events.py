"""JobCreated and JobUpdated version 1 (before time zones) read as version 2: UTC, ``latest``, no first run."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.codec import decode_event
from schemas.events import HttpRequestSpec, JobCreated, JobUpdated
from schemas.legacy import JobCreatedV1, JobUpdatedV1

T0 = datetime(2026, 4, 10, 14, 5, tzinfo=UTC)
BASE: dict[str, object] = {"event_id": "evt_1", "job_id": "job_a", "tenant": "t1", "occurred_at": T0}
REQUEST = HttpRequestSpec(method="POST", url="https://example.com/hook")


def test_a_version_1_create_reads_as_utc_latest_with_no_first_run() -> None:
    # Given a JobCreated written by a version-1 producer
    old = JobCreatedV1(**BASE, api="quedup", name="n", request=REQUEST, schedule="0 9 * * *")
    # When it is decoded today
    event = decode_event(old.model_dump_json().encode())
    # Then it is the version-2 event with the defaults the timer applied to it then
    assert isinstance(event, JobCreated)
    assert (event.schema_version, event.timezone, event.catch_up, event.next_run_at) == (2, "UTC", "latest", None)
    assert (event.schedule, event.name, event.request) == ("0 9 * * *", "n", REQUEST)


def test_a_version_1_update_reads_as_utc_latest_with_no_first_run() -> None:
    # Given a JobUpdated written by a version-1 producer
    old = JobUpdatedV1(**BASE, name="n", request=REQUEST, schedule="*/5 * * * *", active=False)
    # When it is decoded today
    event = decode_event(old.model_dump_json().encode())
    # Then it is the version-2 event, defaults filled in, nothing else changed
    assert isinstance(event, JobUpdated)
    assert (event.schema_version, event.timezone, event.catch_up, event.next_run_at) == (2, "UTC", "latest", None)
    assert (event.schedule, event.active) == ("*/5 * * * *", False)


def test_a_version_2_create_round_trips_its_zone_and_policy() -> None:
    # Given a version-2 JobCreated in New York that skips missed runs
    event = JobCreated(
        **BASE, api="quedup", name="n", request=REQUEST, schedule="0 9 * * *", timezone="America/New_York",
        catch_up="skip", next_run_at=T0,
    )  # fmt: skip
    # Then it decodes to itself
    assert decode_event(event.model_dump_json().encode()) == event
