"""README.md and docs/api.md show every endpoint the ingest serves with a curl example: a new route fails here until
both documents show how to call it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chronohook.clock import FixedClock
from chronohook.kafka.log import InMemoryEventLog
from chronohook.settings import Settings
from services.ingest.app import build_context, create_app

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ("README.md", "docs/api.md")
# One curl command: its first line and any continuation lines (a trailing backslash).
CURL = re.compile(r"curl\b[^\n]*(?:\\\n[^\n]*)*")


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[tuple[str, str]]]:
    ctx = build_context(
        Settings(data_dir=tmp_path_factory.mktemp("docs")), FixedClock(datetime.now(UTC)), log=InMemoryEventLog()
    )
    try:
        document = create_app(ctx).openapi()
        yield {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    finally:
        ctx.engine.dispose()


def _method(command: str) -> str:
    explicit = re.search(r"-X\s*([A-Z]+)", command)
    if explicit:
        return explicit.group(1)
    return "POST" if re.search(r"\s(-d|--data|--json)\s", command) else "GET"


def _shown(text: str, method: str, path: str) -> bool:
    """Whether a curl command in ``text`` calls ``method path`` (path parameters: any one segment)."""
    pattern = re.compile(re.sub(r"\\\{[^}]+\\\}", r"[^/?\\s\"']+", re.escape(path)) + r"(?=[\s?\"']|$)")
    return any(_method(c) == method and pattern.search(c) for c in CURL.findall(text))


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_endpoint_has_a_curl_example(document: str, routes: set[tuple[str, str]]) -> None:
    # Given the routes in the ingest's OpenAPI document
    assert len(routes) > 30
    # When the document is searched for a curl command calling each
    text = (ROOT / document).read_text(encoding="utf-8")
    missing = sorted(f"{method} {path}" for method, path in routes if not _shown(text, method, path))
    # Then none is missing
    assert missing == [], f"{document} has no curl example for these endpoints"


def test_the_matcher_tells_methods_and_paths_apart() -> None:
    # Given commands for a job's runs and a delete
    text = 'curl $B/api/jobs/12/runs -H "$H"\ncurl -X DELETE "$B/api/crons/7" -H "$H"\n'
    # Then each matches its own route only
    assert _shown(text, "GET", "/api/jobs/{job_id}/runs")
    assert not _shown(text, "GET", "/api/jobs/{job_id}")
    assert _shown(text, "DELETE", "/api/crons/{cron_id}")
    assert not _shown(text, "GET", "/api/crons/{cron_id}")
