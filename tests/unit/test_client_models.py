"""The Python client (clients/python) against the ingest's OpenAPI document: every field a response model of the API
answers is a field of the client's model, what the client requires the API always answers, every path the client
calls is one the API serves, and every operation of the API has a client method."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from chronohook_client import AsyncClient, ChronohookError, Client, models
from pydantic import BaseModel

from chronohook.clock import FixedClock
from chronohook.kafka.log import InMemoryEventLog
from chronohook.settings import Settings
from services.ingest.app import build_context, create_app

# The API's response schemas, by name, and the client model that reads each.
MODELS: dict[str, type[BaseModel]] = {
    "Job": models.Job,
    "QuedupRun": models.QuedupRun,
    "QuedupJobEvent": models.QuedupJobEvent,
    "PushJobResponse": models.PushedJob,
    "PushJobsBatchResponse": models.PushedBatch,
    "RecuroJobResponse": models.RecuroJob,
    "RunResponse": models.Run,
    "RecuroRunResponse": models.RecuroRun,
    "RecuroJobEvent": models.RecuroJobEvent,
    "CronResponse": models.CreatedCron,
    "CronDetail": models.Cron,
    "CronAssertion": models.Assertion,
    "QueueAssertion": models.Assertion,
    "QueueResponse": models.Queue,
    "QueueStatsResponse": models.QueueStats,
    "QueueCounts": models.QueueCounts,
    "QueueLateness": models.QueueLateness,
    "DeadLetterResponse": models.DeadLetter,
    "LastFailure": models.LastFailure,
    "ReplayResponse": models.Replayed,
    "Skipped": models.Skipped,
    "BulkReplayResponse": models.BulkReplay,
    "PurgeResponse": models.Purge,
    "SigningSecret": models.SigningSecret,
    "AlertDestinationResponse": models.AlertDestination,
    "AlertResponse": models.Alert,
    "Health": models.Health,
    "VersionInfo": models.VersionInfo,
    "PageLinks": models.PageLinks,
    "PageMeta": models.PageMeta,
    "RecuroJobsPage": models.CursorPage[models.RecuroJob],
    "CursorLinks": models.PageLinks,
    "CursorMeta": models.CursorMeta,
}
# Generic page envelopes (Page_X_): their data, links and meta are checked through the models above.
ENVELOPE = re.compile(r"^(Page|CursorPage)_\w+_$")


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    ctx = build_context(
        Settings(data_dir=tmp_path_factory.mktemp("openapi")), FixedClock(datetime.now(UTC)), log=InMemoryEventLog()
    )
    try:
        yield create_app(ctx).openapi()
    finally:
        ctx.engine.dispose()


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref.rsplit("/", 1)[-1]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def response_schemas(document: dict[str, Any]) -> set[str]:
    """Every schema a 2xx answer reaches, following references."""
    schemas = document["components"]["schemas"]
    todo = [
        name
        for item in document["paths"].values()
        for op in item.values()
        for status, answer in op["responses"].items()
        if status.startswith("2")
        for name in _refs(answer)
    ]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += list(_refs(schemas[name]))
    return seen


def test_every_response_schema_has_a_client_model(document: dict[str, Any]) -> None:
    # Given every schema the API's 2xx answers use
    answered = response_schemas(document)
    # Then each has a client model (the generic page envelopes aside)
    assert sorted(n for n in answered if n not in MODELS and not ENVELOPE.match(n)) == []


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_client_model_reads_every_field_the_api_answers(name: str, document: dict[str, Any]) -> None:
    # Given the API's schema and the client's model for it
    schema = document["components"]["schemas"][name]
    model = MODELS[name]
    known = {field.alias or key for key, field in model.model_fields.items()}
    required_by_client = {field.alias or key for key, field in model.model_fields.items() if field.is_required()}
    # Then every field the API answers is a field of the model
    assert sorted(set(schema["properties"]) - known) == []
    # And the model requires nothing the API may leave out
    assert sorted(required_by_client - set(schema.get("required", []))) == []


# -- paths: every client method once, against a transport that records what is asked ---------------------------------
def _calls(c: Client) -> list[Callable[[], object]]:
    """Every endpoint method of the sync client (lists: their first page)."""
    return [
        lambda: c.jobs.create(queue="q", url="https://example.com/"),
        lambda: c.jobs.create_many([{"queue": "q", "url": "https://example.com/"}]),
        lambda: c.jobs.get(1),
        lambda: next(iter(c.jobs.list(queue="q", status="failed"))),
        lambda: next(iter(c.jobs.runs(1))),
        lambda: next(iter(c.jobs.events(1))),
        lambda: c.quedup.create("n", "https://example.com/"),
        lambda: next(iter(c.quedup.list())),
        lambda: c.quedup.get("job_1"),
        lambda: c.quedup.update("job_1", name="m"),
        lambda: c.quedup.replace("job_1", "n", "https://example.com/"),
        lambda: c.quedup.delete("job_1"),
        lambda: c.quedup.pause("job_1"),
        lambda: c.quedup.resume("job_1"),
        lambda: next(iter(c.quedup.runs("job_1"))),
        lambda: next(iter(c.quedup.events("job_1"))),
        lambda: next(iter(c.queues.list())),
        lambda: c.queues.get("q"),
        lambda: c.queues.stats("q", window_s=60),
        lambda: c.queues.update("q", timeout_seconds=5),
        lambda: c.queues.pause("q"),
        lambda: c.queues.delete("q"),
        lambda: c.crons.create("n", "https://example.com/", "* * * * *"),
        lambda: next(iter(c.crons.list())),
        lambda: c.crons.get(1),
        lambda: c.crons.update(1, name="m"),
        lambda: c.crons.delete(1),
        lambda: next(iter(c.crons.runs(1))),
        lambda: next(iter(c.crons.events(1))),
        lambda: next(iter(c.dead_letters.list(queue="q"))),
        lambda: c.dead_letters.replay(1),
        lambda: c.dead_letters.replay_many(queue="q"),
        lambda: c.dead_letters.delete(1),
        lambda: c.dead_letters.purge("q"),
        lambda: c.signing_secret.get(),
        lambda: c.signing_secret.rotate(grace_seconds=0),
        lambda: c.signing_secret.update(recuro_compat=True),
        lambda: next(iter(c.alerts.list())),
        lambda: c.alerts.destination(),
        lambda: c.alerts.set_destination("https://example.com/a"),
        lambda: c.alerts.delete_destination(),
        c.health,
        c.ready,
        c.version,
    ]


def asked_paths() -> set[tuple[str, str]]:
    asked: set[tuple[str, str]] = set()

    def record(request: httpx.Request) -> httpx.Response:
        asked.add((request.method, request.url.path))
        return httpx.Response(404, json={"message": "recorded"})

    with Client("http://api.test", "t", transport=httpx.MockTransport(record)) as client:
        for call in _calls(client):
            with pytest.raises(ChronohookError):
                call()
    return asked


def _template(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", r"[^/]+", re.escape(path)) + "$")


def test_every_path_the_client_calls_is_served_and_every_operation_is_called(document: dict[str, Any]) -> None:
    # Given the API's operations and what the client asked when each of its methods ran once
    operations = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    asked = asked_paths()

    def served(method: str, path: str) -> bool:
        return any(m == method and _template(p).match(path) for m, p in operations)

    # Then every request the client made is an operation of the API
    assert sorted(a for a in asked if not served(*a)) == []
    # And every operation of the API is called by some client method
    missing = [(m, p) for m, p in operations if not any(am == m and _template(p).match(ap) for am, ap in asked)]
    assert sorted(missing) == []


def test_the_async_client_has_the_sync_clients_methods() -> None:
    # Given both clients
    sync, aio = Client("http://api.test", "t"), AsyncClient("http://api.test", "t")
    # Then each resource has the same public methods
    for name in ("jobs", "quedup", "queues", "crons", "dead_letters", "signing_secret", "alerts"):
        public = {m for m in dir(getattr(sync, name)) if not m.startswith("_")}
        assert public == {m for m in dir(getattr(aio, name)) if not m.startswith("_")}, name
    sync.close()


def test_the_sync_resources_are_generated_from_the_async_ones() -> None:
    # Given the generator and the file it wrote
    from chronohook_client import _unasync

    # Then the file is what the generator makes now (edit _async_resources.py, then run the generator)
    assert Path(_unasync.TARGET).read_text(encoding="utf-8") == _unasync.generated()
