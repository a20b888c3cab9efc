"""`/docs` and `/redoc` load nothing from another host: every asset they reference is served by the API itself, from
files the package ships (services/ingest/static, listed in pyproject's package-data), without a token."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chronohook.clock import FixedClock
from chronohook.kafka.log import InMemoryEventLog
from chronohook.settings import Settings
from services.ingest.app import build_context, create_app
from services.ingest.docs_ui import STATIC_DIR

ROOT = Path(__file__).resolve().parents[2]
PAGES = ("/docs", "/redoc")
# Where a page names something to load: src= and href= attributes, Swagger UI's `url: '...'`, Redoc's spec-url=.
REFERENCE = re.compile(r"""(?:\bsrc|\bhref|\bspec-url)\s*=\s*["']([^"']*)["']|\burl:\s*'([^']*)'""")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("docs-ui"))
    ctx = build_context(settings, FixedClock(datetime.now(UTC)), log=InMemoryEventLog())
    with TestClient(create_app(ctx)) as client:
        yield client


def _references(html: str) -> list[str]:
    return [first or second for first, second in REFERENCE.findall(html)]


@pytest.mark.parametrize("page", PAGES)
def test_a_docs_page_names_no_other_host(client: TestClient, page: str) -> None:
    # When the page is asked for, without a token
    response = client.get(page)
    # Then it is HTML that names no URL with a scheme or a host, only paths on this API
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert re.search(r"(?i)\b(?:https?|ftp|wss?):", html) is None, html
    references = _references(html)
    assert references, html
    assert all(ref.startswith("/") and not ref.startswith("//") for ref in references), references


@pytest.mark.parametrize("page", PAGES)
def test_what_a_docs_page_loads_answers_200_without_a_token(client: TestClient, page: str) -> None:
    # Given the paths the page references (its script, styles, icon and the OpenAPI document)
    references = _references(client.get(page).text)
    # When each is asked for, without a token
    answers = {ref: client.get(ref) for ref in references}
    # Then each answers 200 with content
    assert {ref: r.status_code for ref, r in answers.items()} == dict.fromkeys(references, 200)
    assert all(r.content for r in answers.values())


def test_redoc_loads_no_fonts_and_swagger_ui_no_validator(client: TestClient) -> None:
    # Then Redoc's page links no font service and Swagger UI sends the document to no validator
    assert "fonts" not in client.get("/redoc").text
    assert '"validatorUrl": null' in client.get("/docs").text


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/static/swagger-ui/swagger-ui-bundle.js", 200),
        ("/static/redoc/redoc.standalone.js", 200),
        ("/static/swagger-ui/missing.js", 404),
        ("/static/%2e%2e/app.py", 404),
        ("/static/", 404),
    ],
)
def test_the_assets_need_no_token_and_stay_in_their_directory(client: TestClient, path: str, status: int) -> None:
    # When an asset path (or one trying to leave the directory) is asked for without a token
    # Then the shipped file answers, anything else is not found
    assert client.get(path).status_code == status


def test_the_assets_are_package_data() -> None:
    # Given pyproject's package-data for services.ingest
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["services.ingest"]
    package = STATIC_DIR.parent
    # When its patterns are matched in the package's directory
    packaged = {path for pattern in patterns for path in package.glob(pattern) if path.is_file()}
    # Then every shipped asset (and its licence) is installed with the package
    shipped = {path for path in STATIC_DIR.rglob("*") if path.is_file()}
    assert shipped, STATIC_DIR
    assert shipped <= packaged, sorted(str(p.relative_to(package)) for p in shipped - packaged)
    assert {"LICENSE", "swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"} <= {p.name for p in shipped}
