"""Screenshots of every console page, for docs/console.md and the README: ``python -m tests.support.screenshots``.

Serves the API on 127.0.0.1 with some data (tests/support/console_stack.py: jobs pushed through the API, their
attempts and dead letters appended as the timer and executor would), opens each page in Debian's chromium and writes
``docs/img/console-<page>.png`` (and ``console-phone.png``, the jobs page 390 px wide).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support.browser import chromium
from tests.support.console_stack import ConsoleStack, console_stack
from tests.support.polling import eventually

OUT = Path(__file__).resolve().parents[2] / "docs" / "img"


def seed(stack: ConsoleStack) -> dict[str, int]:
    """A small tenant's day: two queues, successes, a failure, two dead letters, a cron, a QuedUp job."""
    delivered = stack.push("emails", payload={"to": "ada@example.com", "template": "welcome"})
    stack.run(delivered, status=200, body='{"queued":true}', late_ms=35)
    for i in range(3):
        stack.run(stack.push("emails", payload={"to": f"user{i}@example.com"}), status=200, body="ok", late_ms=20 + i)
    stack.push("emails", payload={"to": "later@example.com"}, delay=3600)
    invoice = stack.push("billing", payload={"invoice": 1042})
    stack.run(invoice, status=200, body="paid", late_ms=12)
    dead = stack.push("billing", payload={"invoice": 1043})
    stack.dead_letter(dead, body='{"error":"card declined"}')
    stack.dead_letter(stack.push("billing", payload={"invoice": 1044}), body="503 Service Unavailable")
    stack.api("PATCH", "/api/queues/billing", json={"retry_delays": [10, 60, 300], "max_parallelism": 4})
    stack.api("POST", "/api/crons", json={
        "name": "nightly-report", "url": "http://127.0.0.2:9/report", "cron_expression": "0 3 * * *",
        "timezone": "Europe/Paris",
    })  # fmt: skip
    stack.api("POST", "/jobs", json={"name": "hourly-sync", "method": "POST", "url": "http://127.0.0.2:9/sync",
                                     "schedule": "@hourly"})  # fmt: skip
    stack.api("PUT", "/api/alert-destination", json={"url": "http://127.0.0.2:9/alerts", "format": "slack"})
    eventually(lambda: len(stack.api("GET", "/api/dead-letters")["data"]) == 2, what="the dead letters")
    return {"delivered": delivered, "dead": dead}


def shoot(page: Page, stack: ConsoleStack, path: str, target: Path, ready: str) -> Path:
    page.goto(f"{stack.base_url}{path}#token={stack.tokens['t1']}")
    expect(page.locator(ready).first).to_be_visible()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(target), full_page=True)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    out: Path = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data, console_stack(Path(data)) as stack, chromium() as browser:
        ids = seed(stack)
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{stack.base_url}/console/")
        expect(page.get_by_label("API token")).to_be_visible()
        page.screenshot(path=str(out / "console-login.png"))
        shots = [
            ("/console/", "jobs", "#jobs-table tbody tr"),
            (f"/console/jobs/{ids['delivered']}", "job", "#timeline li"),
            (f"/console/jobs/{ids['dead']}", "job-dead-letter", "#timeline li"),
            ("/console/queues", "queues", "section.queue"),
            ("/console/crons", "crons", "ol.occurrences li"),
            ("/console/dead-letters", "dead-letters", "#dead-letters tbody tr"),
            ("/console/settings", "settings", "#secret"),
        ]
        for path, name, ready in shots:
            print(shoot(page, stack, path, out / f"console-{name}.png", ready))
        phone = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
        print(shoot(phone, stack, "/console/", out / "console-phone.png", "#jobs-table tbody tr"))


if __name__ == "__main__":
    main()
