"""Recuro's /api/queues through FastAPI's TestClient: an in-memory log (which takes the queue settings changes too)
and a SQLite file in tmp_path, folded by the projector's store on demand."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chronohook.clock import FixedClock
from chronohook.ids import queue_id
from chronohook.kafka.log import InMemoryEventLog
from chronohook.readmodel.store import PROJECTOR_CONSUMER, Consumed
from chronohook.settings import Settings
from chronohook.store.tokens import create_token
from schemas.codec import decode_event
from schemas.events import Envelope, QueueSettings, QueueSettingsChanged
from schemas.topics import queue_settings_key
from services.ingest.app import build_context, create_app
from services.ingest.context import IngestContext

NOW = datetime(2026, 4, 10, 14, 5, 0, tzinfo=UTC)
DEFAULTS = {
    "is_active": True,
    "timeout_seconds": 30,
    "retries_enabled": True,
    "retry_delays": [60, 1800, 10800],
    "success_assertions": [],
    "alerts_enabled": False,
    "max_parallelism": None,
    "dlq_retention_days": 14,
}


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
        records = enumerate(self.log.records)
        batch = [Consumed(self.ctx.topic, 0, i, decode_event(value)) for i, (_, value, _) in records]
        self.ctx.store.apply(PROJECTOR_CONSUMER, batch, NOW)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    # Given an ingest app on a fixed clock, an in-memory log and tokens for tenants t1 and t2
    log = InMemoryEventLog()
    ctx = build_context(Settings(data_dir=tmp_path), FixedClock(NOW), log=log)
    t1, t2 = create_token(ctx.engine, "t1"), create_token(ctx.engine, "t2")
    with TestClient(create_app(ctx)) as client:
        yield Api(client, ctx, log, {"Authorization": f"Bearer {t1}"}, {"Authorization": f"Bearer {t2}"})


def test_a_pushed_queue_is_listed_and_read_with_recuros_defaults(api: Api) -> None:
    # Given a job pushed to the queue "emails", projected
    r = api.client.post("/api/jobs", json={"queue": "emails", "url": "https://example.com/a"}, headers=api.t1)
    assert r.status_code == 201, r.text
    api.project()

    # When the tenant lists its queues and reads the queue
    listed = api.client.get("/api/queues", headers=api.t1)
    one = api.client.get("/api/queues/emails", headers=api.t1)

    # Then both answer the queue with Recuro's defaults, its id the push's queue_id
    assert listed.status_code == 200 and one.status_code == 200, (listed.text, one.text)
    body = one.json()
    assert {k: body[k] for k in DEFAULTS} == DEFAULTS
    assert body["id"] == r.json()["queue_id"] == queue_id("t1", "emails")
    assert body["name"] == "emails"
    assert body["created_at"] and body["updated_at"]
    assert [q["name"] for q in listed.json()["data"]] == ["emails"]
    assert listed.json()["meta"]["total"] == 1


def test_another_tenants_queue_is_404_and_not_listed(api: Api) -> None:
    # Given t1's queue
    api.client.post("/api/jobs", json={"queue": "emails", "url": "https://example.com/a"}, headers=api.t1)
    api.project()

    # When t2 reads and lists
    one = api.client.get("/api/queues/emails", headers=api.t2)
    listed = api.client.get("/api/queues", headers=api.t2)

    # Then t2 sees none of it
    assert one.status_code == 404 and one.json() == {"message": "Queue not found."}
    assert listed.json()["data"] == [] and listed.json()["meta"]["total"] == 0


def test_an_unknown_queue_is_404_and_the_list_is_paginated(api: Api) -> None:
    # Given three queues configured by PATCH
    for name in ("a", "b", "c"):
        assert api.client.patch(f"/api/queues/{name}", json={}, headers=api.t1).status_code == 200
    api.project()

    # When reading a page of two, the second page, and an unknown queue
    first = api.client.get("/api/queues?per_page=2", headers=api.t1).json()
    second = api.client.get("/api/queues?per_page=2&page=2", headers=api.t1).json()
    unknown = api.client.get("/api/queues/zzz", headers=api.t1)

    # Then the pages split the three, and the unknown queue is 404
    assert [q["name"] for q in first["data"]] == ["a", "b"] and first["meta"]["last_page"] == 2
    assert [q["name"] for q in second["data"]] == ["c"]
    assert unknown.status_code == 404


def test_patch_changes_only_the_fields_given_and_appends_the_full_settings(api: Api) -> None:
    # Given a queue whose retries were already changed
    r1 = api.client.patch("/api/queues/emails", json={"retry_delays": [1, 2]}, headers=api.t1)
    assert r1.status_code == 200, r1.text
    api.project()

    # When another PATCH pauses it and bounds its parallelism
    r2 = api.client.patch("/api/queues/emails", json={"is_active": False, "max_parallelism": 2}, headers=api.t1)

    # Then the answer keeps the earlier change and shows the new fields
    assert r2.status_code == 200, r2.text
    body = r2.json()
    assert body["retry_delays"] == [1, 2] and body["is_active"] is False and body["max_parallelism"] == 2
    assert body["timeout_seconds"] == 30
    # And the log holds a QueueSettingsChanged per PATCH, keyed by the queue, with the full new settings
    changes = [e for e in api.events() if isinstance(e, QueueSettingsChanged)]
    assert len(changes) == 2
    last = changes[-1]
    assert last.job_id == queue_settings_key("t1", queue_id("t1", "emails"))
    assert last.settings == QueueSettings(retry_delays=(1, 2), is_active=False, max_parallelism=2)
    key, _, headers = api.log.records[-1]
    assert key == last.job_id.encode() and headers == [("type", b"QueueSettingsChanged")]
    # And once projected, a GET reads the same
    api.project()
    assert api.client.get("/api/queues/emails", headers=api.t1).json() == body | {"updated_at": body["updated_at"]}


def test_null_max_parallelism_means_unlimited_again(api: Api) -> None:
    # Given a bounded queue
    api.client.patch("/api/queues/q", json={"max_parallelism": 3}, headers=api.t1)
    api.project()

    # When max_parallelism is set to null
    r = api.client.patch("/api/queues/q", json={"max_parallelism": None}, headers=api.t1)

    # Then it is unlimited
    assert r.status_code == 200 and r.json()["max_parallelism"] is None


def test_success_assertions_are_kept(api: Api) -> None:
    # Given assertions of each kind
    wanted = [
        {"type": "status_code_equals", "value": "200"},
        {"type": "response_time_under_ms", "value": "500"},
        {"type": "body_contains", "value": "ok"},
    ]

    # When they are PATCHed
    r = api.client.patch("/api/queues/q", json={"success_assertions": wanted}, headers=api.t1)

    # Then the queue answers them, and the event carries them
    assert r.status_code == 200, r.text
    assert r.json()["success_assertions"] == wanted
    (change,) = api.events()
    assert isinstance(change, QueueSettingsChanged)
    assert [a.model_dump() for a in change.settings.success_assertions] == wanted


BAD: list[tuple[dict[str, Any], str]] = [
    ({"is_active": "no"}, "is_active"),
    ({"is_active": None}, "is_active"),
    ({"timeout_seconds": 0}, "timeout_seconds"),
    ({"timeout_seconds": 301}, "timeout_seconds"),
    ({"timeout_seconds": 2.5}, "timeout_seconds"),
    ({"retries_enabled": 2}, "retries_enabled"),
    ({"retry_delays": []}, "retry_delays"),
    ({"retry_delays": list(range(1, 12))}, "retry_delays"),
    ({"retry_delays": [0]}, "retry_delays.0"),
    ({"retry_delays": [60, -1]}, "retry_delays.1"),
    ({"retry_delays": [30 * 24 * 3600 + 1]}, "retry_delays.0"),
    ({"retry_delays": ["sixty"]}, "retry_delays.0"),
    ({"retry_delays": None}, "retry_delays"),
    ({"success_assertions": [{"type": "body_contains", "value": "x"}] * 11}, "success_assertions"),
    ({"success_assertions": [{"type": "nope", "value": "x"}]}, "success_assertions.0.type"),
    ({"success_assertions": [{"type": "status_code_equals", "value": "abc"}]}, "success_assertions.0"),
    ({"success_assertions": [{"type": "response_time_under_ms", "value": "-3"}]}, "success_assertions.0"),
    ({"alerts_enabled": "yes"}, "alerts_enabled"),
    ({"max_parallelism": 0}, "max_parallelism"),
    ({"max_parallelism": "two"}, "max_parallelism"),
    ({"dlq_retention_days": 10}, "dlq_retention_days"),
    ({"dlq_retention_days": None}, "dlq_retention_days"),
]


@pytest.mark.parametrize(("body", "field"), BAD)
def test_invalid_settings_are_422_in_the_laravel_shape(api: Api, body: dict[str, Any], field: str) -> None:
    # When a PATCH breaks a rule
    r = api.client.patch("/api/queues/emails", json=body, headers=api.t1)

    # Then it is Laravel's 422 on that field, and nothing is appended
    assert r.status_code == 422, r.text
    answer = r.json()
    assert set(answer) == {"message", "errors"}
    assert field in answer["errors"], answer
    assert all(isinstance(m, str) for msgs in answer["errors"].values() for m in msgs)
    assert api.log.records == []


def test_the_bounds_are_worded_as_laravel_words_them(api: Api) -> None:
    # When the timeout is out of range
    r = api.client.patch("/api/queues/emails", json={"timeout_seconds": 0}, headers=api.t1)

    # Then the message names the range
    assert r.json() == {
        "message": "The timeout_seconds field must be between 1 and 300.",
        "errors": {"timeout_seconds": ["The timeout_seconds field must be between 1 and 300."]},
    }


def test_a_patch_without_a_token_is_401_and_appends_nothing(api: Api) -> None:
    # When a PATCH comes without a token
    r = api.client.patch("/api/queues/emails", json={"is_active": False})

    # Then it is refused before anything is appended
    assert r.status_code == 401
    assert api.log.records == []


def test_a_broker_refusal_is_503_and_changes_nothing(api: Api) -> None:
    # Given a broker that refuses the next write
    api.log.fail_next = True

    # When a PATCH comes
    r = api.client.patch("/api/queues/emails", json={"is_active": False}, headers=api.t1)

    # Then it is a 503 in Recuro's shape
    assert r.status_code == 503 and set(r.json()) == {"message"}
