"""The ingest bench's Kafka-less ceiling (bench/ingest_ceiling.py) answers the bench's own bodies with 201.

On main it was void: the ceiling processes had no egress allowance, so each create to 127.0.0.1 was a 422 and the
ceiling printed 0. The ceiling now runs with the real stack's environment (``BENCH_ENV``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bench.ingest import BATCH_SIZE, batch_bodies, ceiling_env, single_bodies
from bench.ingest_ceiling import ceiling_app
from bench.toolkit.stack import BENCH_ENV
from chronohook.settings import Settings
from chronohook.store.engine import create_schema, make_engine
from chronohook.store.tokens import create_token

JSON = {"Content-Type": "application/json"}


def _client(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = Settings(data_dir=tmp_path)
    engine = make_engine(settings.resolved_database_url)
    create_schema(engine)
    token = create_token(engine, "bench")
    engine.dispose()
    with TestClient(ceiling_app(settings)) as client:
        yield client, {"Authorization": f"Bearer {token}", **JSON}


@pytest.fixture
def ceiling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The ceiling app as ``bench.ingest`` starts it: with ``ceiling_env()``'s settings."""
    for name in BENCH_ENV:
        monkeypatch.setenv(name, ceiling_env()[name])
    yield from _client(tmp_path)


@pytest.fixture
def bare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The ceiling app as main started it: no egress allowance."""
    monkeypatch.delenv("CHRONOHOOK_EGRESS_ALLOW", raising=False)
    yield from _client(tmp_path)


def test_the_ceiling_env_is_the_stacks() -> None:
    # Given the environment the ceiling processes get, Then it carries every bench setting of the real stack
    env = ceiling_env()
    assert {name: env[name] for name in BENCH_ENV} == BENCH_ENV
    assert BENCH_ENV["CHRONOHOOK_EGRESS_ALLOW"] == "127.0.0.1/32"


def test_ceiling_answers_single_creates_201(ceiling: tuple[TestClient, dict[str, str]]) -> None:
    # Given the ceiling app with the bench's environment
    client, headers = ceiling
    # When the bench's own single-create bodies (to 127.0.0.1) are posted, Then each is a 201
    for body in single_bodies(3, "t"):
        r = client.post("/api/jobs", content=body, headers=headers)
        assert r.status_code == 201, r.text


def test_ceiling_answers_batches_201(ceiling: tuple[TestClient, dict[str, str]]) -> None:
    # Given the ceiling app with the bench's environment, When a batch of 1,000 is posted, Then it is one 201
    client, headers = ceiling
    r = client.post("/api/jobs/batch", content=batch_bodies(1, "t")[0], headers=headers)
    assert r.status_code == 201, r.text
    assert len(r.json()["jobs"]) == BATCH_SIZE


def test_without_the_allowance_the_ceiling_refuses(bare: tuple[TestClient, dict[str, str]]) -> None:
    # Given the ceiling app as main ran it (no egress allowance), When a bench body is posted, Then it is the 422
    # that made main's ceiling void (and that bench.ingest now turns into a failure, see test_bench_expect.py)
    client, headers = bare
    r = client.post("/api/jobs", content=single_bodies(1, "t")[0], headers=headers)
    assert r.status_code == 422, r.text
