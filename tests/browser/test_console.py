"""The web console in a real browser: Debian's Chromium driven by Playwright, against the API served on 127.0.0.1
(tests/support/console_stack.py). Never skipped: without Chromium or Playwright these tests fail, and say how to get
them (``make test-deps``; Playwright is in the dev extra)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from tests.support.browser import CHROMIUM, MISSING, chromium
from tests.support.console_stack import ConsoleStack, console_stack
from tests.support.polling import eventually

WAIT_MS = 15_000  # a live page polls every 3 s; the projector folds within 50 ms


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleStack]:
    with console_stack(tmp_path_factory.mktemp("console")) as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(MISSING)
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    p.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)
    try:
        yield p
    finally:
        context.close()


def open_console(page: Page, stack: ConsoleStack, path: str = "/console/", tenant: str = "t1") -> None:
    page.goto(f"{stack.base_url}{path}#token={stack.tokens[tenant]}")


def test_logging_in_by_fragment_shows_a_job_created_through_the_api(page: Page, stack: ConsoleStack) -> None:
    # Given a job pushed through the API
    job_id = stack.push("emails")
    # When the console is opened with #token=…
    open_console(page, stack)
    # Then the jobs page lists the job by its id, the token left the address bar for this tab's sessionStorage
    expect(page.locator("#jobs-table")).to_contain_text(str(job_id))
    assert "#" not in page.url
    assert page.evaluate("sessionStorage.getItem('chronohook.console.token')") == stack.tokens["t1"]
    # And the navigation is there, the current page marked for assistive technology
    expect(page.get_by_role("link", name="Jobs", exact=True)).to_have_attribute("aria-current", "page")


def test_without_a_token_the_login_form_logs_in(page: Page, stack: ConsoleStack) -> None:
    # Given the console opened with no token
    job_id = stack.push("emails")
    page.goto(f"{stack.base_url}/console/")
    # When the user types a token in the labelled field and presses Enter
    page.get_by_label("API token").fill(stack.tokens["t1"])
    page.get_by_label("API token").press("Enter")
    # Then the jobs page shows
    expect(page.locator("#jobs-table")).to_contain_text(str(job_id))


def test_a_jobs_timeline_shows_each_attempt_and_its_signature_headers(page: Page, stack: ConsoleStack) -> None:
    # Given a job that ran once (200, 40 ms late)
    job_id = stack.push("emails", payload={"order": 17})
    stack.run(job_id, status=200, body="thanks", late_ms=40)
    open_console(page, stack)
    # When its link is followed from the jobs page
    page.locator("#jobs-table").get_by_role("link", name=str(job_id)).click()
    # Then its page shows its timeline: created, due, the attempt with request, response, duration and lateness
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("Created")
    expect(timeline).to_contain_text("Due (attempt 1)")
    expect(timeline).to_contain_text("Attempt 1 succeeded")
    expect(timeline).to_contain_text("thanks")
    expect(timeline).to_contain_text("85 ms")
    expect(timeline).to_contain_text("40 ms")
    # And the signature headers of its latest attempt
    expect(page.get_by_role("table", name="Signature headers")).to_contain_text("webhook-signature")
    assert re.search(rf"/console/jobs/{job_id}$", page.url)


def test_the_job_page_updates_live(page: Page, stack: ConsoleStack) -> None:
    # Given a job's page open before it ran
    job_id = stack.push("emails")
    open_console(page, stack, f"/console/jobs/{job_id}")
    expect(page.locator("#timeline")).to_contain_text("Created")
    # When it runs
    stack.run(job_id, status=200, body="later")
    # Then its page shows the attempt without a reload (it polls)
    expect(page.locator("#timeline")).to_contain_text("Attempt 1 succeeded")


def test_the_jobs_page_updates_live(page: Page, stack: ConsoleStack) -> None:
    # Given the jobs page open
    open_console(page, stack)
    expect(page.locator("#jobs-table")).to_be_visible()
    # When a job is pushed through the API
    job_id = stack.push("emails")
    # Then it appears without a reload
    expect(page.locator("#jobs-table")).to_contain_text(str(job_id))


def test_a_dead_letter_replayed_from_the_page_becomes_a_new_job(page: Page, stack: ConsoleStack) -> None:
    # Given a dead letter in its own queue
    job_id = stack.push("dl-replay")
    stack.dead_letter(job_id)
    eventually(lambda: stack.api("GET", "/api/dead-letters?queue=dl-replay")["data"], what="the dead letter")
    open_console(page, stack, "/console/dead-letters")
    row = page.locator("#dead-letters tr", has_text=str(job_id))
    # When its Replay button is pressed
    row.get_by_role("button", name="Replay").click()
    # Then the page names the new job, whose page opens from the link
    replayed = page.locator("#replayed a")
    expect(replayed).to_be_visible()
    new_id = replayed.inner_text()
    assert new_id != str(job_id)
    replayed.click()
    expect(page.locator("h1")).to_contain_text(new_id)
    expect(page.locator("#job")).to_contain_text("dl-replay")
    # And the dead letter's own timeline says it was replayed
    open_console(page, stack, f"/console/jobs/{job_id}")
    expect(page.locator("#timeline")).to_contain_text("Replayed")
    expect(page.locator("#timeline")).to_contain_text("Dead-lettered")


def test_a_queue_paused_from_the_page_is_paused_in_the_api(page: Page, stack: ConsoleStack) -> None:
    # Given a queue with a job
    stack.push("billing")
    open_console(page, stack, "/console/queues")
    card = page.locator("section.queue[data-queue='billing']")
    expect(card).to_contain_text("active")
    # When "Pause queue" is pressed (by keyboard)
    card.get_by_role("button", name="Pause queue").focus()
    page.keyboard.press("Enter")
    # Then the card says paused and the API agrees
    expect(card.get_by_role("button", name="Resume queue")).to_be_visible()
    expect(card.locator("h2")).to_contain_text("paused")
    assert stack.api("GET", "/api/queues/billing")["is_active"] is False


def test_the_queues_page_shows_exact_counts_and_the_last_hours_runs(page: Page, stack: ConsoleStack) -> None:
    # Given a queue of 103 jobs (beyond one page of the list), one run 40 ms late and answered 200, one 40 ms late
    # and answered 500
    ok, failed = stack.push("figures"), stack.push("figures")
    for _ in range(101):
        stack.push("figures")
    stack.run(ok, status=200, late_ms=40)
    stack.run(failed, status=500, late_ms=40)
    # When the queues page is shown
    open_console(page, stack, "/console/queues")
    card = page.locator("section.queue[data-queue='figures']")
    # Then its counts are exact (GET /api/queues/{name}/stats), and the hour's runs and lateness are the API's
    expect(card.locator(".count-total")).to_have_text("103")
    expect(card.locator(".count-completed")).to_have_text("1")
    expect(card.locator(".count-pending")).to_have_text("101")
    expect(card.locator(".hour")).to_contain_text("2 runs")
    expect(card.locator(".hour")).to_contain_text("1 succeeded, 1 failed")
    expect(card.locator(".hour")).to_contain_text("p50 40.0 ms")


def test_tenants_stay_apart(page: Page, stack: ConsoleStack) -> None:
    # Given a job of t1
    job_id = stack.push("secret-queue")
    # When t2 opens the console, then that job's page
    open_console(page, stack, tenant="t2")
    expect(page.locator("#jobs-table")).to_be_visible()
    # Then t2 sees none of it
    expect(page.locator("#jobs-table")).not_to_contain_text(str(job_id))
    page.goto(f"{stack.base_url}/console/jobs/{job_id}")
    expect(page.locator("#job")).to_contain_text("No such job for this token.")


def test_the_other_pages_load(page: Page, stack: ConsoleStack) -> None:
    # Given a cron (a paused one shows no occurrences; this one is active)
    cron = {"name": "nightly", "url": "http://127.0.0.2:9/n", "cron_expression": "0 3 * * *", "timezone": "Asia/Tokyo"}
    stack.api("POST", "/api/crons", json=cron)
    # When the crons page opens
    open_console(page, stack, "/console/crons")
    # Then it lists the cron with 5 occurrences
    expect(page.locator("ol.occurrences li")).to_have_count(5)
    # And the settings page masks the secret until revealed
    page.get_by_role("link", name="Settings").click()
    secret = stack.api("GET", "/api/signing-secret")["secret"]
    expect(page.locator("#secret")).not_to_contain_text(secret)
    page.get_by_role("button", name="Reveal").click()
    expect(page.locator("#secret")).to_have_text(secret)


XSS_SCRIPT = "<script>window.__xss = 'script'</script>"
XSS_IMG = "<img src=x onerror=\"window.__xss = 'img'; alert(1)\">"


def test_what_a_job_carries_is_shown_as_text_and_never_runs(page: Page, stack: ConsoleStack) -> None:
    # Given a job whose URL, headers and payload, and its receiver's response body, hold script and onerror payloads,
    # and a QuedUp job whose name does
    job_id = stack.push(
        "xss",
        url="http://127.0.0.2:9/x?q=<img/src=x/onerror=alert(1)>",
        headers={"X-Evil": "<img src=x onerror=alert(2)>"},
        payload={"html": XSS_SCRIPT, "img": XSS_IMG},
    )
    stack.run(job_id, status=500, body=XSS_SCRIPT + XSS_IMG, response_headers={"x-note": XSS_IMG})
    stack.api("POST", "/jobs", json={"name": XSS_SCRIPT, "method": "GET", "url": "http://127.0.0.2:9/q"})
    dialogs: list[str] = []

    def refuse(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    # When its page and the QuedUp list are shown
    open_console(page, stack, f"/console/jobs/{job_id}")
    expect(page.locator("#timeline")).to_contain_text("Attempt 1 failed")
    # Then the payloads read literally, as text
    expect(page.locator(".response-body").first).to_contain_text(XSS_SCRIPT + XSS_IMG)
    expect(page.locator("#payload")).to_contain_text("<script>window.__xss = 'script'</script>")
    expect(page.locator("#job")).to_contain_text("<img src=x onerror=alert(2)>")
    expect(page.locator("#job")).to_contain_text("?q=<img/src=x/onerror=alert(1)>")
    page.get_by_role("link", name="Jobs", exact=True).click()
    page.get_by_label("API").select_option("quedup")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#jobs-table")).to_contain_text(XSS_SCRIPT)
    # And nothing ran: no flag, no dialog, no element made from them
    assert page.evaluate("window.__xss") is None
    assert dialogs == []
    assert page.locator("img").count() == 0
    assert page.locator("main script").count() == 0


def test_console_responses_carry_a_strict_content_security_policy(stack: ConsoleStack) -> None:
    # Given the console's page and a script
    for path in ("/console/", "/console/jobs/1", "/console/assets/app.js"):
        # When each is fetched with no token
        r = stack.http.get(stack.base_url + path)
        # Then it answers, with a policy allowing only this origin's scripts and styles, nothing inline
        assert r.status_code == 200, path
        policy = r.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy and "'unsafe-inline'" not in policy
        assert r.headers["x-content-type-options"] == "nosniff"


def test_a_quedup_job_is_paused_and_resumed_from_its_page(page: Page, stack: ConsoleStack) -> None:
    # Given a scheduled QuedUp job, its page open
    job = stack.api("POST", "/jobs", json={"name": "sync", "method": "POST", "url": "http://127.0.0.2:9/s",
                                           "schedule": "@hourly"})  # fmt: skip
    open_console(page, stack, f"/console/jobs/{job['id']}")
    expect(page.locator("#job")).to_contain_text("@hourly")
    # When Pause is pressed
    page.get_by_role("button", name="Pause").click()
    # Then the API has it paused and the page offers Resume, which resumes it
    eventually(lambda: stack.api("GET", f"/jobs/{job['id']}")["status"] == "paused", what="paused")
    page.get_by_role("button", name="Resume").click()
    eventually(lambda: stack.api("GET", f"/jobs/{job['id']}")["status"] == "active", what="resumed")
    expect(page.get_by_role("button", name="Pause")).to_be_visible()


def test_a_crons_page_by_its_id_pauses_it(page: Page, stack: ConsoleStack) -> None:
    # Given a Recuro cron
    cron = stack.api("POST", "/api/crons", json={"name": "weekly", "url": "http://127.0.0.2:9/w",
                                                  "cron_expression": "0 9 * * 1"})  # fmt: skip
    # When its page is opened by its integer id and Pause pressed
    open_console(page, stack, f"/console/jobs/{cron['id']}")
    expect(page.locator("#job")).to_contain_text("0 9 * * 1")
    page.get_by_role("button", name="Pause").click()
    # Then the API has it inactive
    eventually(lambda: stack.api("GET", f"/api/crons/{cron['id']}")["is_active"] is False, what="paused")
    expect(page.get_by_role("button", name="Resume")).to_be_visible()


def test_the_jobs_filters_are_in_the_address(page: Page, stack: ConsoleStack) -> None:
    # Given jobs in two queues
    mine = stack.push("filter-a")
    other = stack.push("filter-b")
    # When the console is opened on a filtered address
    open_console(page, stack, "/console/?queue=filter-a&status=pending")
    # Then only that queue's pending jobs show, and the form says so
    expect(page.locator("#jobs-table")).to_contain_text(str(mine))
    expect(page.locator("#jobs-table")).not_to_contain_text(str(other))
    expect(page.get_by_label("Queue")).to_have_value("filter-a")
    # And filtering from the form writes the address
    page.get_by_label("Queue").fill("filter-b")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#jobs-table")).to_contain_text(str(other))
    assert page.url.endswith("/console/?queue=filter-b&status=pending")


def test_the_url_and_time_filters_are_applied_by_the_server(page: Page, stack: ConsoleStack) -> None:
    # Given a job to /orders pushed before 30 others (so it is not on the first page of 25)
    order = stack.push("server-filters", url="http://127.0.0.2:9/Orders/7")
    others = [stack.push("server-filters") for _ in range(30)]
    # When the console is opened filtered by a part of that URL, in another case
    open_console(page, stack, "/console/?name=orders")
    # Then that job shows (the API filtered, not the page), and none of the others
    expect(page.locator("#jobs-table")).to_contain_text(str(order))
    expect(page.locator("#jobs-table")).not_to_contain_text(str(others[-1]))
    expect(page.get_by_role("button", name="Older")).to_be_disabled()
    # And a creation window in the future, set from the form, leaves none, and is written in the address
    page.get_by_label("Created from").fill("2099-01-01T00:00")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#jobs-table")).to_contain_text("No jobs match.")
    assert page.url.endswith("/console/?name=orders&from=2099-01-01T00%3A00")


UNLABELLED = """() => [...document.querySelectorAll("input, select, button")]
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label") && !el.textContent.trim())
    .map((el) => el.outerHTML)"""


@pytest.mark.parametrize("path", ["/console/", "/console/queues", "/console/crons", "/console/dead-letters",
                                  "/console/settings"])  # fmt: skip
def test_every_control_has_a_name(page: Page, stack: ConsoleStack, path: str) -> None:
    # Given a tenant with a queue, a cron and a dead letter
    stack.dead_letter(stack.push("labelled"))
    stack.api("POST", "/api/crons", json={"name": "labels", "url": "http://127.0.0.2:9/l", "cron_expression": "@daily"})
    # When the page is shown
    open_console(page, stack, path)
    expect(page.locator("main h1")).to_be_visible()
    page.wait_for_load_state("networkidle")
    # Then every input, select and button has an accessible name (a label, aria-label or its text)
    assert page.evaluate(UNLABELLED) == []
