"""The API's access log (decision 0043): one line per request, with the route template, status, duration, tenant
and request id, and never the token or the query string."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chronohook.clock import FixedClock
from chronohook.kafka.log import InMemoryEventLog
from chronohook.settings import Settings
from chronohook.store.tokens import create_token
from services.ingest.app import build_context, create_app
from tests.unit.test_ingest_api import NOW

PUSH = {"queue": "emails", "url": "https://api.yourapp.com/send"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    # Given an ingest app with an in-memory log and a token for tenant t1
    ctx = build_context(Settings(data_dir=tmp_path), FixedClock(NOW), log=InMemoryEventLog())
    token = create_token(ctx.engine, "t1")
    with TestClient(create_app(ctx)) as test_client:
        yield test_client, token


def access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "chronohook.access"]


def test_each_request_is_one_line_with_its_route_status_tenant_and_request_id(
    client: tuple[TestClient, str], caplog: pytest.LogCaptureFixture
) -> None:
    test_client, token = client
    caplog.set_level(logging.INFO, logger="chronohook.access")
    # When a job is pushed, then read by its id with a secret in the query string, with the client's request id
    pushed = test_client.post("/api/jobs", json=PUSH, headers={"Authorization": f"Bearer {token}"})
    job_id = pushed.json()["job_id"]
    read = test_client.get(
        f"/api/jobs/{job_id}?token=s3cret", headers={"Authorization": f"Bearer {token}", "X-Request-Id": "req-42"}
    )
    # Then there is one line each
    first, second = access_lines(caplog)
    assert (first.method, first.path, first.status, first.tenant) == ("POST", "/api/jobs", 201, "t1")  # type: ignore[attr-defined]
    # And the read names the route's template, not the id or the query string, and the request id sent
    assert second.path.startswith("/api/jobs/{job_id") and second.status == read.status_code  # type: ignore[attr-defined]
    assert second.request_id == "req-42" and read.headers["X-Request-Id"] == "req-42"  # type: ignore[attr-defined]
    assert first.duration_ms >= 0 and len(first.request_id) == 32  # type: ignore[attr-defined]
    # And neither the token nor the query string is in any of it
    for record in (first, second):
        text = record.getMessage() + str(record.__dict__)
        assert token not in text and "s3cret" not in text


def test_a_refused_token_is_logged_without_a_tenant(
    client: tuple[TestClient, str], caplog: pytest.LogCaptureFixture
) -> None:
    test_client, _ = client
    caplog.set_level(logging.INFO, logger="chronohook.access")
    # When a request comes with an unknown token
    test_client.get("/api/jobs/1", headers={"Authorization": "Bearer not-a-token"})
    # Then its line says 401, the path it asked, no tenant, and not the token
    [line] = access_lines(caplog)
    assert (line.status, line.tenant, line.path) == (401, None, "/api/jobs/1")  # type: ignore[attr-defined]
    assert "not-a-token" not in line.getMessage() + str(line.__dict__)
