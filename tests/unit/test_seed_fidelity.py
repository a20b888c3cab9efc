"""The seed pages' remaining differences (issue 15, Deliver 3), each tried as a PHP, Laravel or form-filling client
sends it: through FastAPI's TestClient, an in-memory event log and a SQLite read model in tmp_path.

One test (or table) per item: ``[]`` as an empty object; Laravel's integers, booleans and scalar header values;
whole-second Recuro ``scheduled_at``; QuedUp ``body`` ``""``; ``run_at`` beside ``schedule`` and ``""`` as unset; cron
macros. Token import is tested with the ``tokens`` command (tests/unit/test_cli_tokens.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chronohook.clock import FixedClock
from chronohook.kafka.log import InMemoryEventLog
from chronohook.readmodel.store import PROJECTOR_CONSUMER, Consumed
from chronohook.schedule import MACROS, Schedule
from chronohook.schedule_rate import schedule_rate
from chronohook.settings import Settings
from chronohook.store.tokens import create_token
from schemas.codec import decode_event
from schemas.events import Envelope, JobCreated, JobPushed, JobUpdated
from services.ingest.app import build_context, create_app
from services.ingest.commands import recuro_scheduled_at
from services.ingest.context import IngestContext

# A push accepted 123 ms into a second: Recuro's page answers in whole seconds all the same.
NOW = datetime(2026, 4, 10, 14, 5, 0, 123_456, tzinfo=UTC)
PUSH = {"queue": "emails", "url": "https://api.yourapp.com/send"}
CRON = {"name": "nightly", "url": "https://api.yourapp.com/nightly", "cron_expression": "0 3 * * *"}
QJOB = {"method": "POST", "url": "https://example.com/backup"}


@dataclass
class Api:
    client: TestClient
    ctx: IngestContext
    log: InMemoryEventLog
    auth: dict[str, str]

    def events(self) -> list[Envelope]:
        return [decode_event(value) for _, value, _ in self.log.records]

    def last(self) -> Envelope:
        return self.events()[-1]

    def project(self) -> None:
        """Fold everything appended so far into the read model, as the projector would."""
        batch = [
            Consumed(self.ctx.topic, 0, offset, decode_event(value))
            for offset, (_, value, _) in enumerate(self.log.records)
        ]
        self.ctx.store.apply(PROJECTOR_CONSUMER, batch, NOW)

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(path, json=body, headers=self.auth)

    def patch(self, path: str, body: Any) -> Any:
        self.project()  # a PATCH reads the job it changes from the read model
        return self.client.patch(path, json=body, headers=self.auth)

    def get(self, path: str) -> Any:
        self.project()
        return self.client.get(path, headers=self.auth)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    # Given an ingest app on a clock 123 ms into a second, an in-memory log and a tenant's token
    log = InMemoryEventLog()
    ctx = build_context(Settings(data_dir=tmp_path), FixedClock(NOW), log=log)
    token = create_token(ctx.engine, "t1")
    with TestClient(create_app(ctx)) as client:
        yield Api(client, ctx, log, {"Authorization": f"Bearer {token}"})


def created(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


# -- 1. [] is an empty object (PHP's json_encode([])) ------------------------------------------------------------------
def test_an_empty_php_array_is_an_empty_object_for_every_object_field(api: Api) -> None:
    # Given the bodies a PHP client sends with 'headers' => [] and 'payload' => []
    # When a Recuro job, a batch, a cron and a QuedUp job are created with them, and the cron and QuedUp job patched
    job = created(api.post("/api/jobs", PUSH | {"headers": [], "payload": []}))
    pushed = api.last()
    created(api.post("/api/jobs/batch", {"jobs": [PUSH | {"headers": [], "payload": []}]}))
    batched = api.last()
    cron = created(api.post("/api/crons", CRON | {"headers": []}))
    cron_event = api.last()
    quedup = created(api.post("/jobs", QJOB | {"name": "backup", "headers": []}), 200)
    quedup_event = api.last()
    created(api.patch(f"/api/crons/{cron['id']}", {"headers": []}), 200)
    created(api.patch(f"/jobs/{quedup['id']}", {"headers": []}), 200)
    # Then each is accepted, with no headers and an empty JSON object as the payload
    for event in (pushed, batched):
        assert isinstance(event, JobPushed)
        assert event.payload == {}
        assert event.request.body == "{}"
        assert event.request.headers == {"Content-Type": "application/json"}
    assert isinstance(cron_event, JobCreated) and cron_event.request.headers == {}
    assert isinstance(quedup_event, JobCreated) and quedup_event.request.headers == {}
    assert quedup["headers"] == {}
    assert api.get(f"/api/jobs/{job['job_id']}").json()["payload"] == {}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/jobs", PUSH | {"payload": [1]}, "payload"),
        ("/api/jobs", PUSH | {"headers": ["X-A: 1"]}, "headers"),
        ("/jobs", QJOB | {"name": "n", "headers": ["X-A: 1"]}, "headers"),
    ],
)
def test_a_non_empty_array_is_still_no_object(api: Api, path: str, body: dict[str, Any], field: str) -> None:
    # Given a list with items where an object belongs; When it is posted; Then it is refused on that field
    r = api.post(path, body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][field] == [f"The {field} field must be an object."]


# -- 2. Recuro takes what Laravel's rules take ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("delay", "scheduled_at"),
    [
        ("300", "2026-04-10T14:10:01+00:00"),  # now + 300 s, on the next whole second
        (" 300 ", "2026-04-10T14:10:01+00:00"),
        ("+300", "2026-04-10T14:10:01+00:00"),
        (300.0, "2026-04-10T14:10:01+00:00"),  # Python's json.dumps(5 * 60.0)
        ("0", "2026-04-10T14:05:00+00:00"),
        ("86400", "2026-04-11T14:05:01+00:00"),
    ],
)
def test_delay_takes_a_numeric_string_as_laravels_integer_rule_does(api: Api, delay: Any, scheduled_at: str) -> None:
    # Given a push whose delay is a numeric string (or a number without a fraction)
    # When it is posted; Then it is accepted and scheduled as the integer would be
    assert created(api.post("/api/jobs", PUSH | {"delay": delay}))["scheduled_at"] == scheduled_at
    event = api.last()
    assert isinstance(event, JobPushed) and event.delay_seconds == int(float(str(delay).strip()))


@pytest.mark.parametrize("delay", ["5m", "1.5", "0300", "1e3", "", True, 1.5, [300]])
def test_delay_refuses_what_laravels_integer_rule_refuses(api: Api, delay: Any) -> None:
    # Given a delay that is no integer to Laravel either ("" is absent, not an integer: it defaults to 0)
    r = api.post("/api/jobs", PUSH | {"delay": delay})
    # Then it is refused on delay, except "" which Laravel's ConvertEmptyStringsToNull makes absent
    if delay == "":
        assert created(r)["scheduled_at"] == "2026-04-10T14:05:00+00:00"
    else:
        assert r.status_code == 422, r.text
        assert r.json()["errors"] == {"delay": ["The delay field must be an integer."]}


def test_scalar_header_values_are_sent_as_their_json_text(api: Api) -> None:
    # Given headers with a number, a fraction and booleans, as a client may write them
    headers = {"X-Retry": 3, "X-Ratio": 2.5, "X-Debug": True, "X-Quiet": False, "X-Name": "plain"}
    # When a Recuro job and a cron are created with them
    created(api.post("/api/jobs", PUSH | {"headers": headers}))
    pushed = api.last()
    created(api.post("/api/crons", CRON | {"headers": headers}))
    cron = api.last()
    # Then each value is sent as JSON writes it
    sent = {"X-Retry": "3", "X-Ratio": "2.5", "X-Debug": "true", "X-Quiet": "false", "X-Name": "plain"}
    assert isinstance(pushed, JobPushed) and isinstance(cron, JobCreated)
    assert {k: v for k, v in pushed.request.headers.items() if k != "Content-Type"} == sent
    assert cron.request.headers == sent


@pytest.mark.parametrize("value", [None, [1], {"a": 1}])
def test_a_header_value_that_is_no_scalar_is_still_refused(api: Api, value: Any) -> None:
    r = api.post("/api/jobs", PUSH | {"headers": {"X-A": value}})
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == {"headers.X-A": ["The headers.X-A field must be a string."]}


def test_cron_and_queue_integers_and_booleans_take_laravels_forms(api: Api) -> None:
    # Given a cron with string integers and "0"/1 booleans, as a form-encoded PHP client sends them
    cron = created(api.post("/api/crons", CRON | {"timeout_seconds": "60", "alert_threshold": "2", "is_active": "0"}))
    event = api.last()
    # Then they are taken as Laravel's integer and boolean rules take them
    assert isinstance(event, JobCreated)
    assert (event.request.timeout_seconds, event.alert_threshold, event.active) == (60.0, 2, False)
    assert cron["is_active"] is False
    assert created(api.patch(f"/api/crons/{cron['id']}", {"is_active": 1}), 200)["is_active"] is True
    # And a queue's settings likewise
    created(api.post("/api/jobs", PUSH))
    queue = api.patch(
        "/api/queues/emails",
        {"retries_enabled": "1", "retry_delays": ["60", 1800], "max_parallelism": "4", "dlq_retention_days": "7"},
    )
    body = created(queue, 200)
    assert (body["retries_enabled"], body["retry_delays"], body["max_parallelism"], body["dlq_retention_days"]) == (
        True,
        [60, 1800],
        4,
        7,
    )
    # But what Laravel refuses stays refused
    assert api.post("/api/crons", CRON | {"is_active": "yes"}).json()["errors"]["is_active"] == [
        "The is_active field must be true or false."
    ]


# -- 3. Recuro scheduled_at in whole seconds ------------------------------------------------------------------------
@pytest.mark.parametrize("when", [{}, {"delay": 0}, {"delay": "0"}, {"delay": ""}])
def test_a_job_due_at_once_reports_the_second_it_was_accepted_in(api: Api, when: dict[str, Any]) -> None:
    # Given the clock at 14:05:00.123
    # When a job with delay 0 (or none) is pushed, singly and in a batch
    one = created(api.post("/api/jobs", PUSH | when))
    batch = created(api.post("/api/jobs/batch", {"jobs": [PUSH | when]}))
    # Then every answer says the second it was accepted in, as Recuro's page writes it: no fraction
    assert one["scheduled_at"] == "2026-04-10T14:05:00+00:00"
    assert batch["jobs"][0]["scheduled_at"] == "2026-04-10T14:05:00+00:00"
    # And GET says the same
    assert api.get(f"/api/jobs/{one['job_id']}").json()["scheduled_at"] == "2026-04-10T14:05:00+00:00"
    # But the job is still due at once: the event carries the instant it was accepted, to the millisecond
    due = [e.scheduled_at for e in api.events() if isinstance(e, JobPushed)]
    assert due == [NOW.replace(microsecond=123_000)] * 2


def test_a_delayed_job_reports_whole_seconds_and_a_run_at_its_milliseconds(api: Api) -> None:
    # Given the clock at 14:05:00.123
    # When a job with a delay and one with a run_at ahead with milliseconds (chronohook's extension) are pushed
    delayed = created(api.post("/api/jobs", PUSH | {"delay": 60}))
    timed = created(api.post("/api/jobs", PUSH | {"run_at": "2026-04-10T14:06:00.437Z"}))
    past = created(api.post("/api/jobs", PUSH | {"run_at": "2026-04-10T14:00:00.500Z"}))
    # Then the delayed one reads in whole seconds, the run_at one with its milliseconds, a past run_at as now
    assert delayed["scheduled_at"] == "2026-04-10T14:06:01+00:00"
    assert timed["scheduled_at"] == "2026-04-10T14:06:00.437+00:00"
    assert past["scheduled_at"] == "2026-04-10T14:05:00+00:00"
    # And GET reads each the same
    for answer in (delayed, timed, past):
        assert api.get(f"/api/jobs/{answer['job_id']}").json()["scheduled_at"] == answer["scheduled_at"]


@pytest.mark.parametrize(
    ("scheduled", "accepted", "retry", "shown"),
    [
        # delay 0, and a replay: due when accepted -> the second it was accepted in
        (NOW, NOW, False, "2026-04-10T14:05:00+00:00"),
        # a run_at in the past: due now
        (NOW.replace(microsecond=0), NOW, False, "2026-04-10T14:05:00+00:00"),
        # delay: due on a whole second ahead
        (datetime(2026, 4, 10, 14, 10, 1, tzinfo=UTC), NOW, False, "2026-04-10T14:10:01+00:00"),
        # a run_at ahead: its milliseconds
        (NOW + timedelta(seconds=5), NOW, False, "2026-04-10T14:05:05.123+00:00"),
        # a retry: failure time + the queue's delay, in whole seconds as the page's format has it
        (NOW + timedelta(seconds=60), NOW, True, "2026-04-10T14:06:00+00:00"),
    ],
)
def test_scheduled_at_is_shown_in_whole_seconds_but_for_a_run_at_ahead(
    scheduled: datetime, accepted: datetime, retry: bool, shown: str
) -> None:
    # Given a job's due instant, when it was accepted and whether it is a retry; Then its scheduled_at reads `shown`
    assert recuro_scheduled_at(scheduled, accepted, retry) == shown


def test_run_at_with_delay_zero_is_accepted_and_with_a_delay_refused(api: Api) -> None:
    # Given a run_at beside delay 0 (the default, as docs/api.md says) and beside delay 60
    with_zero = api.post("/api/jobs", PUSH | {"delay": 0, "run_at": "2026-04-10T15:00:00Z"})
    with_delay = api.post("/api/jobs", PUSH | {"delay": 60, "run_at": "2026-04-10T15:00:00Z"})
    # Then the first runs at run_at, the second is a 422 on run_at
    assert created(with_zero)["scheduled_at"] == "2026-04-10T15:00:00+00:00"
    assert with_delay.status_code == 422
    assert with_delay.json()["errors"] == {"run_at": ["The run_at field cannot be combined with delay."]}


# -- 4. QuedUp body is "" when none was given -----------------------------------------------------------------------
def test_a_quedup_job_without_body_answers_an_empty_string_everywhere(api: Api) -> None:
    # Given a QuedUp job created without a body
    job = created(api.post("/jobs", QJOB | {"name": "no-body", "schedule": "0 12 * * *"}), 200)
    job_id = job["id"]
    # Then create, GET, list, PATCH, PUT, pause and resume all answer body "" (the page's Job says string)
    assert job["body"] == ""
    assert api.get(f"/jobs/{job_id}").json()["body"] == ""
    assert [j["body"] for j in api.get("/jobs").json()] == [""]
    assert created(api.patch(f"/jobs/{job_id}", {"name": "still-no-body"}), 200)["body"] == ""
    replaced = api.client.put(f"/jobs/{job_id}", json=QJOB | {"name": "replaced"}, headers=api.auth)
    assert created(replaced, 200)["body"] == ""
    api.project()
    assert created(api.client.post(f"/jobs/{job_id}/pause", headers=api.auth), 200)["body"] == ""
    api.project()
    assert created(api.client.post(f"/jobs/{job_id}/resume", headers=api.auth), 200)["body"] == ""
    # And the job still sends no body at all
    assert all(e.request.body is None for e in api.events() if isinstance(e, JobCreated | JobUpdated))


# -- 5. run_at beside schedule is ignored; "" means unset -----------------------------------------------------------
def test_run_at_beside_a_schedule_is_ignored_not_validated(api: Api) -> None:
    # Given a QuedUp job with a schedule and a run_at that is not even a time
    job = created(api.post("/jobs", QJOB | {"name": "daily", "schedule": "0 12 * * *", "run_at": "whenever"}), 200)
    # Then it is created on its schedule
    assert (job["schedule"], job["next_run_at"]) == ("0 12 * * *", "2026-04-11T12:00:00Z")
    # And a PATCH giving a schedule ignores its run_at too
    patched = api.patch(f"/jobs/{job['id']}", {"schedule": "0 13 * * *", "run_at": 42})
    assert created(patched, 200)["next_run_at"] == "2026-04-11T13:00:00Z"


def test_empty_strings_mean_unset_in_quedup_bodies(api: Api) -> None:
    # Given a client that sends every field, the unset ones as ""
    blank = {"run_at": "", "schedule": "", "timezone": "", "catch_up": ""}
    # When it creates a one-off job
    job = created(api.post("/jobs", QJOB | {"name": "blank"} | blank), 200)
    # Then it is a job due now, with no schedule, in UTC
    assert (job["schedule"], job["timezone"], job["catch_up"], job["next_run_at"]) == (
        None,
        "UTC",
        "latest",
        "2026-04-10T14:05:00.123Z",
    )
    # And "" beside a real run_at leaves that run_at in force
    at = created(api.post("/jobs", QJOB | {"name": "at"} | blank | {"run_at": "2026-05-01T00:00:00Z"}), 200)
    assert at["next_run_at"] == "2026-05-01T00:00:00Z"
    # And in a PATCH, "" clears the schedule as null does
    daily = created(api.post("/jobs", QJOB | {"name": "cleared", "schedule": "0 12 * * *"}), 200)
    cleared = created(api.patch(f"/jobs/{daily['id']}", {"schedule": "", "run_at": "2026-06-01T00:00:00Z"}), 200)
    assert (cleared["schedule"], cleared["next_run_at"]) == (None, "2026-06-01T00:00:00Z")


def test_empty_strings_mean_unset_in_recuro_bodies(api: Api) -> None:
    # Given Recuro bodies with every optional field "" (as Laravel's ConvertEmptyStringsToNull makes them null)
    push = PUSH | {"method": "", "headers": "", "payload": "", "callback_url": "", "delay": "", "run_at": ""}
    cron = CRON | {"method": "", "headers": "", "payload": "", "callback_url": "", "timeout_seconds": "",
                   "alert_threshold": "", "is_active": "", "timezone": "", "catch_up": ""}  # fmt: skip
    # When they are posted
    job = created(api.post("/api/jobs", push))
    pushed = api.last()
    created(api.post("/api/crons", cron))
    made = api.last()
    # Then each field takes its default
    assert job["scheduled_at"] == "2026-04-10T14:05:00+00:00"
    assert isinstance(pushed, JobPushed)
    assert (pushed.request.method, pushed.request.headers) == ("POST", {})
    assert (pushed.payload, pushed.callback_url, pushed.request.body) == (None, None, None)
    assert isinstance(made, JobCreated)
    assert (made.request.method, made.request.timeout_seconds, made.request.body) == ("POST", 30.0, None)
    assert (made.active, made.timezone, made.catch_up, made.alert_threshold) == (True, "UTC", "latest", None)
    # But a required field given as "" is still missing
    r = api.post("/api/jobs", PUSH | {"queue": ""})
    assert r.json()["errors"] == {"queue": ["The queue field is required."]}


# -- 6. Cron macros -------------------------------------------------------------------------------------------------
MACRO_NEXT = {
    "@yearly": "2027-01-01T00:00:00",
    "@annually": "2027-01-01T00:00:00",
    "@monthly": "2026-05-01T00:00:00",
    "@weekly": "2026-04-12T00:00:00",  # Sunday
    "@daily": "2026-04-11T00:00:00",
    "@midnight": "2026-04-11T00:00:00",
    "@hourly": "2026-04-10T15:00:00",
}


@pytest.mark.parametrize("macro", list(MACRO_NEXT))
def test_a_cron_macro_works_in_both_apis_and_is_echoed_as_given(api: Api, macro: str) -> None:
    # Given a QuedUp job and a Recuro cron written with a macro
    job = created(api.post("/jobs", QJOB | {"name": "m", "schedule": macro}), 200)
    cron = created(api.post("/api/crons", CRON | {"cron_expression": macro}))
    # Then each answers the macro as given, and its next occurrence
    assert (job["schedule"], job["next_run_at"]) == (macro, MACRO_NEXT[macro] + "Z")
    assert (cron["cron_expression"], cron["next_run_at"]) == (macro, MACRO_NEXT[macro] + "+00:00")
    # And GET and the list read the same
    assert api.get(f"/jobs/{job['id']}").json()["schedule"] == macro
    detail = api.get(f"/api/crons/{cron['id']}").json()
    assert (detail["cron_expression"], detail["next_run_at"]) == (macro, MACRO_NEXT[macro] + "+00:00")
    # And the events carry the macro, which the timer reads with the same Schedule
    events = [e for e in api.events() if isinstance(e, JobCreated)]
    assert [e.schedule for e in events] == [macro, macro]
    for event in events:
        assert event.schedule is not None and event.next_run_at is not None
        assert Schedule(event.schedule).next_after(NOW) == event.next_run_at


@pytest.mark.parametrize(("macro", "fields"), list(MACROS.items()))
def test_a_macro_fires_as_its_fields_everywhere(macro: str, fields: str) -> None:
    # Given a macro and the fields it stands for, in a zone with daylight saving time
    ours, theirs = Schedule.parse(macro, "Europe/Berlin"), Schedule.parse(fields, "Europe/Berlin")
    at = datetime(2026, 3, 1, tzinfo=UTC)
    # Then their next 30 occurrences are the same, as is their rate
    for _ in range(30):
        assert ours.next_after(at) == theirs.next_after(at)
        at = ours.next_after(at)
    assert ours.latest_at_or_before(at) == theirs.latest_at_or_before(at)
    assert schedule_rate(macro) == schedule_rate(fields)
    # And upper case is the same macro, echoed as written
    assert Schedule.parse(macro.upper()).expression == macro.upper()


@pytest.mark.parametrize("expression", ["@reboot", "@every 5m", "@", "@daily 5"])
def test_an_unknown_macro_is_refused(api: Api, expression: str) -> None:
    # Given an expression that looks like a macro but is none chronohook runs
    r = api.post("/api/crons", CRON | {"cron_expression": expression})
    # Then it is refused on its field
    assert r.status_code == 422, r.text
    assert list(r.json()["errors"]) == ["cron_expression"]


def test_signing_and_dead_letter_integers_and_booleans_take_laravels_forms(api: Api) -> None:
    # Given a PHP client turning Recuro's signature pair on with "1" and rotating with a grace of "0" seconds
    compat = api.client.put("/api/signing-secret", json={"recuro_compat": "1"}, headers=api.auth)
    rotated = api.client.post("/api/signing-secret/rotate", json={"grace_seconds": "0"}, headers=api.auth)
    # Then both are taken: the pair is on, and the old secret stopped signing at once
    assert created(compat, 200)["recuro_compat"] is True
    assert created(rotated, 200)["previous_expires_at"] is None
    # And a bulk replay takes its ids as numeric strings
    replay = api.post("/api/dead-letters/replay", {"job_ids": ["12"]})
    assert created(replay, 200)["skipped"] == [{"job_id": 12, "reason": "not_found"}]
