"""The event-size budget at ingest: a job whose largest event could not fit a Kafka record is a clear 4xx, never a 500.

The largest event is the encoded creation event plus RESULT_ALLOWANCE_BYTES (what a run adds); it must stay within
MAX_EVENT_BYTES. JSON escaping makes text grow up to six-fold, so the encoded event is measured, not the request.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chronohook.clock import FixedClock
from chronohook.kafka.log import InMemoryEventLog
from chronohook.settings import Settings
from chronohook.store.tokens import create_token
from schemas.codec import encode_event
from schemas.topics import MAX_EVENT_BYTES, RESULT_ALLOWANCE_BYTES
from services.ingest import commands
from services.ingest.app import build_context, create_app
from services.ingest.models import CreateJobRequest
from tests.unit.test_ingest_api import NOW, Api

QUEDUP = {"name": "big", "method": "POST", "url": "https://example.com/q"}
PUSH = {"queue": "big", "url": "https://example.com/r"}
CRON = {"name": "big", "url": "https://example.com/c", "cron_expression": "0 3 * * *"}
BIG = 990_000


def _api(tmp_path: Path, **settings: Any) -> Iterator[Api]:
    log = InMemoryEventLog()
    clock = FixedClock(NOW)
    ctx = build_context(Settings(data_dir=tmp_path, **settings), clock, log=log)
    t1, t2 = create_token(ctx.engine, "t1"), create_token(ctx.engine, "t2")
    with TestClient(create_app(ctx)) as client:
        yield Api(client, ctx, log, clock, {"Authorization": f"Bearer {t1}"}, {"Authorization": f"Bearer {t2}"})


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    # Given ingest with the default limits (1 MiB request bodies, 16 MiB batches)
    yield from _api(tmp_path)


@pytest.fixture
def roomy(tmp_path: Path) -> Iterator[Api]:
    # Given ingest whose operator raised the request limit to 8 MiB: only the event budget stands in the way
    yield from _api(tmp_path, max_request_bytes=8 * 1024 * 1024)


def too_large(r: Any, key: str) -> str:
    assert r.status_code == 413, r.text[:500]
    body = r.json()
    assert set(body) == {key}, body
    message: str = body[key]
    return message


def test_a_990000_character_plain_quedup_body_fits(api: Api) -> None:
    # Given a QuedUp body of ~990,000 plain characters (under the 1 MiB request limit)
    # When it is created
    r = api.client.post("/jobs", json=QUEDUP | {"body": "a" * BIG}, headers=api.t1)
    # Then it is accepted, and its event with a run's allowance fits the budget
    assert r.status_code == 200, r.text[:500]
    [(_, value, _)] = api.log.records
    assert len(value) + RESULT_ALLOWANCE_BYTES <= MAX_EVENT_BYTES


def test_990000_characters_that_escape_six_fold_are_a_clear_413(api: Api) -> None:
    # Given a QuedUp body of ~990,000 characters that JSON escapes as \u0001 (six bytes each)
    # When it is created
    r = api.client.post("/jobs", json=QUEDUP | {"body": "\x01" * BIG}, headers=api.t1)
    # Then it is refused in QuedUp's shape (here by the request limit already) and nothing is written
    assert "must not be larger than" in too_large(r, "error")
    assert api.log.records == []


def test_past_the_request_limit_the_event_budget_refuses_in_quedups_shape(roomy: Api) -> None:
    # Given the same six-fold body under a raised request limit
    # When it is created
    r = roomy.client.post("/jobs", json=QUEDUP | {"body": "\x01" * BIG}, headers=roomy.t1)
    # Then the budget refuses it with a 413 that says the limits, and nothing is written
    message = too_large(r, "error")
    assert message.startswith("The job is too large: it encodes to"), message
    assert f"{MAX_EVENT_BYTES:,}" in message
    assert roomy.log.records == []


def test_a_recuro_payload_under_the_request_limit_can_still_exceed_the_budget(api: Api) -> None:
    # Given a Recuro payload of ~700 KB of non-ASCII text: the event carries it twice, once as the request body
    # where json.dumps escapes each character as \u00e9
    payload = {"text": "é" * 350_000}
    # When it is pushed
    r = api.client.post("/api/jobs", json=PUSH | {"payload": payload}, headers=api.t1)
    # Then it is a 413 in Laravel's shape, not a 500 from the broker
    assert too_large(r, "message").startswith("The job is too large")
    assert api.log.records == []


def test_a_cron_payload_over_the_budget_is_413(roomy: Api) -> None:
    # Given a cron whose raw payload escapes past the budget
    # When it is created
    r = roomy.client.post("/api/crons", json=CRON | {"payload": "\x01" * BIG}, headers=roomy.t1)
    # Then it is a 413 in Laravel's shape
    assert too_large(r, "message").startswith("The job is too large")
    assert roomy.log.records == []


def test_a_batch_names_the_job_over_the_budget(api: Api) -> None:
    # Given a batch (16 MiB limit) whose third job's payload escapes past the event budget
    jobs = [PUSH, PUSH, PUSH | {"payload": {"text": "\x01" * 400_000}}, PUSH]
    # When it is pushed
    r = api.client.post("/api/jobs/batch", json={"jobs": jobs}, headers=api.t1)
    # Then the 413 names jobs.2 and none of the jobs is written
    assert too_large(r, "message").startswith("Job jobs.2 is too large"), r.text
    assert api.log.records == []


def test_patching_a_quedup_job_past_the_budget_is_413(roomy: Api) -> None:
    # Given an existing job
    r = roomy.client.post("/jobs", json=QUEDUP, headers=roomy.t1)
    assert r.status_code == 200, r.text
    roomy.project()
    # When its body is replaced by one over the budget
    r = roomy.client.patch(f"/jobs/{r.json()['id']}", json={"body": "\x01" * BIG}, headers=roomy.t1)
    # Then it is refused and nothing more is written
    assert too_large(r, "error").startswith("The job is too large")
    assert len(roomy.log.records) == 1


def test_the_budget_is_measured_on_the_encoded_event() -> None:
    # Given two bodies of the same length, one plain and one that escapes six-fold
    plain = commands.create_quedup_job(CreateJobRequest.model_validate(QUEDUP | {"body": "a" * 1000}), "t", "j", NOW)
    odd = commands.create_quedup_job(CreateJobRequest.model_validate(QUEDUP | {"body": "\x01" * 1000}), "t", "j", NOW)
    # Then the measure is the encoded event plus the allowance, and only the escaped one grows
    assert commands.largest_event_bytes(plain) == len(encode_event(plain)) + RESULT_ALLOWANCE_BYTES
    assert commands.largest_event_bytes(odd) - commands.largest_event_bytes(plain) == 5000
    assert commands.over_budget(plain) is None
