"""The web console's server side (services/ingest/console.py): public pages and assets with a strict
Content-Security-Policy, the one read of its own behind the token, and assets that never turn data into markup.
The pages themselves are tested in a real browser: tests/browser/test_console.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chronohook.clock import FixedClock
from chronohook.kafka.log import InMemoryEventLog
from chronohook.readmodel.store import PROJECTOR_CONSUMER, Consumed
from chronohook.settings import Settings
from chronohook.store.tokens import create_token
from schemas.codec import decode_event
from services.ingest.app import build_context, create_app
from services.ingest.console import CONSOLE_DIR, PAGES

NOW = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)  # the night Europe/Paris springs forward is the 29th


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], dict[str, str]]]:
    log = InMemoryEventLog()
    ctx = build_context(Settings(data_dir=tmp_path, egress_allow="127.0.0.2/32"), FixedClock(NOW), log=log)
    t1, t2 = create_token(ctx.engine, "t1"), create_token(ctx.engine, "t2")
    with TestClient(create_app(ctx)) as c:
        h1, h2 = {"Authorization": f"Bearer {t1}"}, {"Authorization": f"Bearer {t2}"}
        r = c.post(
            "/api/crons",
            headers=h1,
            json={
                "name": "n",
                "url": "http://127.0.0.2:9/n",
                "cron_expression": "30 2 * * *",
                "timezone": "Europe/Paris",
            },
        )
        assert r.status_code == 201, r.text
        batch = [Consumed(ctx.topic, 0, i, decode_event(v)) for i, (_, v, _) in enumerate(log.records)]
        ctx.store.apply(PROJECTOR_CONSUMER, batch, NOW)
        c.headers["x-cron-id"] = str(r.json()["id"])
        yield c, h1, h2


@pytest.mark.parametrize("path", [f"/console{p}" for p in PAGES] + ["/console/jobs/job_abc", "/console/jobs/12"])
def test_every_page_is_the_shell_with_no_token_and_a_strict_policy(
    client: tuple[TestClient, dict[str, str], dict[str, str]], path: str
) -> None:
    c, _, _ = client
    # When a page is fetched with no token
    r = c.get(path, headers={"x-cron-id": ""})
    # Then it is the app's shell, loading its module from this server, under a policy with nothing inline
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'src="/console/assets/app.js"' in r.text and "{{root}}" not in r.text
    policy = r.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe" not in policy and "frame-ancestors 'none'" in policy
    assert r.headers["cache-control"] == "no-store" and r.headers["referrer-policy"] == "no-referrer"


def test_console_redirects_to_its_jobs_page(client: tuple[TestClient, dict[str, str], dict[str, str]]) -> None:
    c, _, _ = client
    r = c.get("/console", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/console/"


def test_assets_are_served_with_the_policy_and_a_missing_one_is_a_404(
    client: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    c, _, _ = client
    for asset in ("app.js", "api.js", "dom.js", "style.css", "pages/job.js"):
        r = c.get(f"/console/assets/{asset}")
        assert r.status_code == 200, asset
        assert "content-security-policy" in r.headers and r.headers["x-content-type-options"] == "nosniff"
    assert (
        c.get("/console/assets/app.js")
        .headers["content-type"]
        .startswith(("text/javascript", "application/javascript"))
    )
    assert c.get("/console/assets/nope.js").status_code == 404


def test_occurrences_need_the_token_and_answer_the_next_five_in_the_zone(
    client: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    c, h1, h2 = client
    cron_id = c.headers["x-cron-id"]
    path = f"/console/api/schedules/{cron_id}/occurrences"
    # Given t1's cron at 02:30 Paris time, the night before the clocks spring forward (02:30 does not exist on the 29th)
    # When it is asked with no token, another tenant's, and t1's
    assert c.get(path, headers={"x-cron-id": ""}).status_code == 401
    assert c.get(path, headers=h2).status_code == 404
    r = c.get(path, headers=h1)
    # Then t1 gets the next 5 in the zone's offset, the gap's night skipped
    assert r.status_code == 200, r.text
    assert r.json()["occurrences"] == [
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
        "2026-04-01T02:30:00+02:00",
        "2026-04-02T02:30:00+02:00",
        "2026-04-03T02:30:00+02:00",
    ]
    assert c.get(f"{path}?count=21", headers=h1).status_code == 422


# Ways to turn a string into markup or code: none may appear in the console's scripts.
MARKUP_SINKS = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|srcdoc")


def test_no_script_turns_data_into_markup() -> None:
    scripts = sorted((CONSOLE_DIR / "assets").rglob("*.js"))
    assert len(scripts) >= 8
    for script in scripts:
        found = MARKUP_SINKS.findall(script.read_text(encoding="utf-8"))
        assert found == [], f"{script.name}: {found}"
    html = (CONSOLE_DIR / "index.html").read_text(encoding="utf-8")
    assert "style=" not in html and re.search(r"<script(?![^>]*\bsrc=)", html) is None  # nothing inline
