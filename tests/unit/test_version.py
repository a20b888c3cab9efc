"""`chronohook --version` and `GET /version` tell the package's version (pyproject.toml's, from its metadata)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from chronohook.cli import app
from chronohook.clock import FixedClock
from chronohook.kafka.log import InMemoryEventLog
from chronohook.settings import Settings
from chronohook.version import version
from services.ingest.app import build_context, create_app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    ctx = build_context(Settings(data_dir=tmp_path), FixedClock(datetime.now(UTC)), log=InMemoryEventLog())
    with TestClient(create_app(ctx)) as client:
        yield client


def test_the_version_is_the_packages() -> None:
    # Given pyproject.toml's version (the installed metadata is built from it: `make` reinstalls when it changes)
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    # Then the version told is it
    assert version() == declared


def test_cli_version_prints_it_and_exits_0() -> None:
    # When `chronohook --version` runs
    result = CliRunner().invoke(app, ["--version"])
    # Then it prints the version alone and exits 0
    assert result.exit_code == 0, result.output
    assert result.output == f"chronohook {version()}\n"


def test_get_version_needs_no_token(client: TestClient) -> None:
    # When GET /version is asked without a token
    response = client.get("/version")
    # Then it answers the version, as the OpenAPI document does
    assert response.status_code == 200
    assert response.json() == {"version": version()}
    assert client.get("/openapi.json").json()["info"]["version"] == version()


def test_other_paths_still_need_a_token(client: TestClient) -> None:
    # When a protected route is asked without a token
    # Then it is refused, as before
    assert client.get("/api/jobs").status_code == 401
    assert client.get("/versions").status_code == 401
