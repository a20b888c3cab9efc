"""End to end on the real broker: what PHP and form-filling clients send runs as the seed products would run it, and
answers in the pages' formats (issue 15, Deliver 3; the per-item tests are tests/unit/test_seed_fidelity.py)."""

from __future__ import annotations

import json
import time
from datetime import datetime

from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import Receiver

AT_ONCE = 1.0  # seconds: a job due at once reaches the receiver within this of its accept (a loaded CI box)


def test_a_php_style_push_runs_at_once_and_reads_in_whole_seconds(stack: Stack, receiver: Receiver) -> None:
    # Given a push as a PHP client writes it: empty arrays, a numeric-string delay of 0, scalar header values
    body = {
        "queue": "php-style",
        "url": receiver.url("/php-style"),
        "headers": {"X-Retry": 3, "X-Debug": True},
        "payload": [],
        "delay": "0",
        "callback_url": "",
    }
    with stack.client() as c:
        sent = time.time()
        r = c.post("/api/jobs", json=body)
    # Then it is accepted, and scheduled_at is the second it was accepted in, without a fraction
    assert r.status_code == 201, r.text
    answer = r.json()
    scheduled = answer["scheduled_at"]
    assert scheduled.endswith("+00:00") and "." not in scheduled, scheduled
    assert int(sent) - 1 <= datetime.fromisoformat(scheduled).timestamp() <= sent + 1
    # When it runs: at once, with its headers as strings and the payload as an empty JSON object
    [got] = receiver.wait_for(lambda q: q.path == "/php-style", timeout=10)
    assert got.at - sent <= AT_ONCE, f"arrived {got.at - sent:.3f} s after the push"
    assert (got.headers["X-Retry"], got.headers["X-Debug"]) == ("3", "true")
    assert json.loads(got.body) == {}
    # And GET reads the same whole-second scheduled_at, completed
    with stack.client() as c:
        job = eventually(
            lambda: (j := c.get(f"/api/jobs/{answer['job_id']}").json()).get("status") == "completed" and j,
            what="completed php-style job",
        )
    assert job["scheduled_at"] == scheduled
    assert job["payload"] == {}


def test_a_quedup_job_with_empty_strings_runs_now_and_a_macro_schedule_is_echoed(
    stack: Stack, receiver: Receiver
) -> None:
    # Given a QuedUp client that sends unset fields as "" (and no body)
    one_off = {"method": "POST", "name": f"blank-{time.time_ns()}", "url": receiver.url("/blank"), "run_at": "",
               "schedule": "", "headers": []}  # fmt: skip
    daily = {"method": "GET", "name": f"daily-{time.time_ns()}", "url": receiver.url("/daily"), "schedule": "@daily",
             "run_at": "not a time"}  # fmt: skip
    with stack.client() as c:
        sent = time.time()
        r = c.post("/jobs", json=one_off)
        d = c.post("/jobs", json=daily)
        # Then the one-off is a job due now, its body "" (a string, as the page's Job schema says)
        assert r.status_code == 200, r.text
        assert (r.json()["body"], r.json()["schedule"], r.json()["headers"]) == ("", None, {})
        # And the macro job is accepted with its run_at ignored, the macro echoed, next run at midnight UTC
        assert d.status_code == 200, d.text
        assert d.json()["schedule"] == "@daily"
        assert d.json()["next_run_at"].endswith("T00:00:00Z")
        # When the one-off runs: at once, with no body
        [got] = receiver.wait_for(lambda q: q.path == "/blank", timeout=10)
        assert got.at - sent <= AT_ONCE
        assert got.body == ""
        # And both read back as answered
        done = eventually(lambda: (j := c.get(f"/jobs/{r.json()['id']}").json())["status"] == "completed" and j)
        assert done["body"] == ""
        assert c.get(f"/jobs/{d.json()['id']}").json()["schedule"] == "@daily"
