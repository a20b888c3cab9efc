"""The web console on the real stack (broker, timer, executor, projector, ingest as child processes), in Debian's
chromium: a job pushed through the API to a receiver that answers 500 with a hostile body is dead-lettered by the
real retry chain; its page shows the real attempts (signed by the executor) and the body as text; it is replayed
from the dead-letters page, and the replay's delivery shows up on the new job's page without a reload."""

from __future__ import annotations

import http.server
import secrets
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from tests.conftest import Stack
from tests.support.browser import chromium
from tests.support.polling import eventually
from tests.support.receiver import SECOND_HOST

HOSTILE = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'


class FailingTarget:
    """Answers 500 with ``HOSTILE`` while ``failing``, then 200; on an allowed loopback address."""

    def __init__(self) -> None:
        self.failing = True
        self.statuses: list[int] = []
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body = (500, HOSTILE.encode()) if target.failing else (200, b"ok")
                target.statuses.append(status)
                self.send_response(status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                return None

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 1024
            daemon_threads = True

        self._server = Server((SECOND_HOST, 0), Handler)
        self.url = f"http://{SECOND_HOST}:{self._server.server_address[1]}/console-e2e"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def target() -> Iterator[FailingTarget]:
    t = FailingTarget()
    try:
        yield t
    finally:
        t.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    p = context.new_page()
    p.set_default_timeout(30_000)
    expect.set_options(timeout=30_000)
    try:
        yield p
    finally:
        context.close()


def _dead_letters(c: httpx.Client, queue: str) -> list[dict[str, Any]]:
    r = c.get("/api/dead-letters", params={"queue": queue})
    assert r.status_code == 200, r.text
    data: list[dict[str, Any]] = r.json()["data"]
    return data


def test_a_dead_letter_is_seen_and_replayed_from_the_console(stack: Stack, target: FailingTarget, page: Page) -> None:
    dialogs: list[str] = []

    def refuse(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    with stack.client() as c:
        # Given a queue retrying once, a second later, and a job pushed to a receiver answering 500 with markup
        queue = f"console-{secrets.token_hex(4)}"
        assert c.patch(f"/api/queues/{queue}", json={"retry_delays": [1]}).status_code == 200
        r = c.post("/api/jobs", json={"queue": queue, "url": target.url, "delay": 1, "payload": {"n": 1}})
        assert r.status_code == 201, r.text
        job_id = r.json()["job_id"]
        # When its attempts run out
        eventually(lambda: _dead_letters(c, queue), timeout=60, what="the dead letter")
        # Then the console shows its real timeline, the executor's signature headers and the body as text
        page.goto(f"{stack.base_url}/console/jobs/{job_id}#token={stack.token}")
        timeline = page.locator("#timeline")
        expect(timeline).to_contain_text("Attempt 1 failed")
        expect(timeline).to_contain_text("Dead-lettered")
        expect(page.get_by_role("table", name="Signature headers")).to_contain_text("webhook-signature")
        expect(page.locator(".response-body").first).to_have_text(HOSTILE)
        # When the dead letter is replayed from the dead-letters page, the receiver now answering 200
        target.failing = False
        page.goto(f"{stack.base_url}/console/dead-letters")
        page.get_by_label("Queue").fill(queue)
        page.get_by_role("button", name="Filter").click()
        page.locator("#dead-letters tr", has_text=str(job_id)).get_by_role("button", name="Replay").click()
        # Then the new job is linked; its page shows its delivery once the executor has made it (live, polling)
        replayed = page.locator("#replayed a")
        expect(replayed).to_be_visible()
        new_id = replayed.inner_text()
        replayed.click()
        expect(page.locator("h1")).to_contain_text(new_id)
        expect(page.locator("#timeline")).to_contain_text("Attempt 1 succeeded")
        assert target.statuses[-1] == 200
        # And nothing the receiver sent ran
        assert page.evaluate("window.__xss") is None and dialogs == [] and page.locator("img").count() == 0
