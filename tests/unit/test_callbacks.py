"""Completion callbacks as pure decisions: the timer decides (first attempt, retries, abandonment, restart from its
changelog), the executor only turns an answer into an event. The clock is always passed in."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chronohook.ids import recuro_job_key
from chronohook.outbound.sender import SendResult, classify_status
from chronohook.retries import CALLBACK_RETRY_DELAYS
from schemas import decode_event, encode_event
from schemas.changelog import CallbackEntry, Entry, TimerEntry, decode_entry
from schemas.events import (
    CallbackAbandoned,
    CallbackDue,
    CallbackFailed,
    CallbackRetryScheduled,
    CallbackSucceeded,
    Envelope,
    Event,
    HttpRequestSpec,
    JobCreated,
    JobDue,
    JobFailed,
    JobPushed,
    JobSucceeded,
    RetryPolicy,
    RunOutcome,
)
from services.executor.callbacks import callback_headers, callback_request, callback_result_event
from services.timer.callbacks import callback_id
from services.timer.domain import decide, fire_entry

T0 = datetime(2026, 4, 10, 14, 5, 30, tzinfo=UTC)
S = timedelta(seconds=1)
REQUEST = HttpRequestSpec(method="POST", url="https://example.com/hook", body='{"a":1}')
CB_URL = "https://example.com/cb"


class Timer:
    """The timer's state as its shell keeps it: entries by key, changed only through ``decide`` and ``fire_entry``."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}

    def consume(self, event: Event, now: datetime) -> list[Envelope]:
        changes, emitted = decide(self.entries.get, event, now)
        self._apply(changes)
        return emitted

    def fire_all(self, now: datetime) -> list[Envelope]:
        out: list[Envelope] = []
        for key, entry in list(self.entries.items()):
            new, emitted = fire_entry(entry, now)
            self._apply({key: new})
            out.extend(emitted)
        return out

    def _apply(self, changes: dict[str, Entry | None]) -> None:
        for key, entry in changes.items():
            if entry is None:
                self.entries.pop(key, None)
            else:
                self.entries[key] = entry


def pushed(callback_url: str | None = CB_URL) -> JobPushed:
    return JobPushed(
        event_id="evt_push",
        job_id=recuro_job_key(847),
        tenant="t1",
        occurred_at=T0,
        integer_id=847,
        queue="emails",
        queue_id=12,
        request=REQUEST,
        scheduled_at=T0,
        callback_url=callback_url,
        retry=RetryPolicy(delays=(60,)),
    )


def result(due: JobDue, finished: datetime, status: int = 200) -> JobSucceeded | JobFailed:
    outcome = RunOutcome(
        run_id=due.run_id, attempt=due.attempt, due_at=due.due_at, started_at=finished - 0.012 * S,
        finished_at=finished, duration_ms=12.0, request_headers={}, request_body=due.request.body,
        response_status=status, response_body="ok" if status == 200 else "down", callback_url=due.callback_url,
    )  # fmt: skip
    base = {"event_id": f"evt_r_{due.run_id}", "job_id": due.job_id, "tenant": due.tenant, "occurred_at": finished}
    if status == 200:
        return JobSucceeded(**base, outcome=outcome)
    return JobFailed(**base, outcome=outcome, failure_reason="http_server_error", error_message=f"HTTP {status}")


def answer(due: CallbackDue, at: datetime, status: int | None) -> CallbackSucceeded | CallbackFailed:
    """What an executor reports for ``due`` when the callback receiver answers ``status`` (None: no answer)."""
    if status is None:
        sent = SendResult(0.0, 3.0, failure_reason="connection_error", error_message="refused")
    else:
        reason = classify_status(status)
        sent = SendResult(0.0, 3.0, status=status, failure_reason=reason, error_message=reason and f"HTTP {status}")
    return callback_result_event(due, sent, at)


def run_once(timer: Timer, status: int = 200) -> tuple[JobDue, list[Envelope]]:
    """The pushed job fires at T0 and its run completes 50 ms later; returns the due and what the result decided."""
    [due] = timer.fire_all(T0)
    assert isinstance(due, JobDue)
    return due, timer.consume(result(due, T0 + 0.05 * S, status), T0 + 0.05 * S)


def test_a_completed_run_with_a_callback_url_makes_its_callback_due_at_once() -> None:
    # Given a Recuro push with a callback_url, handed out
    timer = Timer()
    timer.consume(pushed(), T0)
    # When its run succeeds
    due, emitted = run_once(timer)
    # Then the one-off job's entry is gone, and a callback entry of its own is due at the result's time
    [cb_due] = emitted
    assert isinstance(cb_due, CallbackDue)
    assert due.job_id not in timer.entries
    assert (cb_due.job_id, cb_due.callback_id, cb_due.attempt) == (due.job_id, f"cb:{due.run_id}", 1)
    assert cb_due.due_at == T0 + 0.05 * S and cb_due.url == CB_URL
    entry = timer.entries[cb_due.callback_id]
    assert isinstance(entry, CallbackEntry) and entry.due_at is None  # with an executor
    # And the body is the documented one, built from the timer's entry and the run
    body = json.loads(cb_due.body)
    assert body["type"] == "job.completed"
    assert (body["job_id"], body["queue"], body["queue_id"], body["attempt_number"]) == (847, "emails", 12, 1)
    assert (body["status"], body["success"]) == ("completed", True)
    assert body["run"]["run_id"] == due.run_id and body["run"]["status_code"] == 200
    assert body["run"]["response_body"] == "ok" and body["run"]["failure_reason"] is None
    assert body["scheduled_at"] == "2026-04-10T14:05:30+00:00"


def test_a_failed_run_reports_its_reason_and_its_callback_beside_the_retry() -> None:
    # Given a Recuro push with one retry
    timer = Timer()
    timer.consume(pushed(), T0)
    # When its run fails
    _, emitted = run_once(timer, status=503)
    # Then the retry is pushed, and the callback says failed with the reason
    cb_due = next(e for e in emitted if isinstance(e, CallbackDue))
    body = json.loads(cb_due.body)
    assert (body["status"], body["success"]) == ("failed", False)
    assert body["run"]["failure_reason"] == "http_server_error" and body["run"]["error_message"] == "HTTP 503"
    assert any(isinstance(e, JobPushed) for e in emitted)


def test_a_named_job_callback_names_it_and_uses_its_id() -> None:
    # Given a QuedUp job with a callback_url
    timer = Timer()
    created = JobCreated(
        event_id="evt_c", job_id="job_a", tenant="t1", occurred_at=T0, api="quedup", name="Backup",
        request=REQUEST, callback_url=CB_URL,
    )  # fmt: skip
    timer.consume(created, T0)
    # When it runs
    _, emitted = run_once(timer)
    # Then the callback carries its name and string id
    body = json.loads(next(e for e in emitted if isinstance(e, CallbackDue)).body)
    assert (body["job_id"], body["name"], body["queue"]) == ("job_a", "Backup", None)


def test_no_callback_without_a_callback_url_nor_for_a_redelivered_result() -> None:
    # Given a push without a callback_url, run once
    timer = Timer()
    timer.consume(pushed(callback_url=None), T0)
    _, emitted = run_once(timer)
    # Then no callback is decided
    assert emitted == [] and timer.entries == {}
    # Given a push with one, run once
    timer = Timer()
    timer.consume(pushed(), T0)
    due, _ = run_once(timer)
    # When the executor's result comes again (at-least-once)
    again = timer.consume(result(due, T0 + 0.05 * S), T0 + S)
    # Then nothing new is decided: the callback exists already
    assert again == []
    assert list(timer.entries) == [callback_id(due.run_id)]


def test_a_failing_callback_is_retried_after_5_s_30_s_2_10_and_30_min_then_abandoned() -> None:
    # Given a completed run whose callback receiver always answers 500
    timer = Timer()
    timer.consume(pushed(), T0)
    _, [cb_due] = run_once(timer)
    assert isinstance(cb_due, CallbackDue)
    seen_at: list[datetime] = []
    decided: list[Envelope] = []
    due: CallbackDue | None = cb_due
    # When every attempt fails 1 s after it was due, and the timer fires what falls due (bounded loop)
    for _ in range(len(CALLBACK_RETRY_DELAYS) + 1):
        assert due is not None
        seen_at.append(due.due_at)
        failed_at = due.due_at + S
        decided = timer.consume(answer(due, failed_at - 0.003 * S, 500), failed_at)
        retry = next((e for e in decided if isinstance(e, CallbackRetryScheduled)), None)
        if retry is None:
            break
        # Not a moment before the retry is due
        assert timer.fire_all(retry.retry_at - 0.001 * S) == []
        [nxt] = timer.fire_all(retry.retry_at)
        assert isinstance(nxt, CallbackDue)
        due = nxt
    # Then the attempts were due 5 s, 30 s, 120 s, 600 s and 1,800 s after each failure: six in all
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(seen_at)]
    assert gaps == [1 + d for d in (5, 30, 120, 600, 1800)]
    # And after the sixth failure it is abandoned, and its entry gone
    [abandoned] = decided
    assert isinstance(abandoned, CallbackAbandoned)
    assert (abandoned.attempts, abandoned.error_message) == (6, "HTTP 500")
    assert timer.entries == {}


def test_a_callback_that_succeeds_on_retry_is_done_and_stale_answers_change_nothing() -> None:
    # Given a callback whose first attempt got no answer
    timer = Timer()
    timer.consume(pushed(), T0)
    _, [first] = run_once(timer)
    assert isinstance(first, CallbackDue)
    [scheduled] = timer.consume(answer(first, T0 + S, None), T0 + S)
    assert isinstance(scheduled, CallbackRetryScheduled)
    assert (scheduled.next_attempt, scheduled.retry_at) == (2, T0 + S + 0.003 * S + 5 * S)
    # When the first attempt's answer comes again, late
    assert timer.consume(answer(first, T0 + 2 * S, None), T0 + 2 * S) == []
    # And the second attempt succeeds
    [second] = timer.fire_all(scheduled.retry_at)
    assert isinstance(second, CallbackDue) and second.attempt == 2 and second.body == first.body
    assert timer.consume(answer(second, scheduled.retry_at + S, 204), scheduled.retry_at + S) == []
    # Then the callback is done
    assert timer.entries == {}


def test_a_restarted_timer_carries_on_from_the_changelog_entry_with_the_same_decisions() -> None:
    # Given a callback waiting for its second attempt, and the same timer restarted from its changelog records
    timer = Timer()
    timer.consume(pushed(), T0)
    _, [first] = run_once(timer)
    assert isinstance(first, CallbackDue)
    [scheduled] = timer.consume(answer(first, T0 + S, 500), T0 + S)
    assert isinstance(scheduled, CallbackRetryScheduled)
    restarted = Timer()
    for key, entry in timer.entries.items():
        restarted.entries[key] = decode_entry(entry.model_dump_json().encode())
    assert restarted.entries == timer.entries
    # When both fire at the retry's time
    before = restarted.fire_all(scheduled.retry_at)
    after = timer.fire_all(scheduled.retry_at)
    # Then they hand out the same attempt, with the same event id
    assert before == after and len(before) == 1


def test_a_job_entry_restores_as_a_job_entry() -> None:
    # Given a job's timer entry as its changelog record
    entry = TimerEntry(job_id="job_a", tenant="t1", api="quedup", request=REQUEST, retry=RetryPolicy(), name="x")
    # When decoded
    # Then it is a job entry again
    assert decode_entry(entry.model_dump_json()) == entry


def test_the_executor_sends_the_exact_body_with_a_stable_callback_id() -> None:
    # Given a due callback
    due = CallbackDue(
        event_id="evt_x", job_id="rj_1", tenant="t1", occurred_at=T0, callback_id="cb:rj_1:0:1", run_id="rj_1:0:1",
        url=CB_URL, body='{"type": "job.completed"}', attempt=3, due_at=T0,
    )  # fmt: skip
    # When the executor builds the request
    request = callback_request(due, timeout_seconds=30.0)
    headers = callback_headers(due)
    # Then it POSTs the body as built, with the documented headers
    assert (request.method, request.url, request.body, request.timeout_seconds) == ("POST", CB_URL, due.body, 30.0)
    assert headers == {
        "Content-Type": "application/json",
        "User-Agent": "chronohook/0.1",
        "X-Chronohook-Callback-Id": "cb:rj_1:0:1",
    }
    # And an answer becomes an event of that attempt, with an id a re-send derives again
    ok = answer(due, T0, 200)
    assert isinstance(ok, CallbackSucceeded) and (ok.attempt, ok.response_status) == (3, 200)
    assert ok.event_id == answer(due, T0, 200).event_id
    redirect = answer(due, T0, 302)
    assert isinstance(redirect, CallbackFailed) and redirect.response_status == 302
    down = answer(due, T0, None)
    assert isinstance(down, CallbackFailed) and (down.failure_reason, down.response_status) == (
        "connection_error",
        None,
    )


def test_the_projector_cannot_send_anything() -> None:
    # Given the projector's process, as a fresh interpreter that loads its shell
    probe = (
        "import sys, services.projector.service; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'aiohttp' or m.startswith('chronohook.outbound')))"
    )
    # When listing what it loaded
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    # Then no HTTP client nor the outbound room is among it: a rebuild of the read models sends no callback
    assert out.stdout.strip() == "[]"


def test_a_callback_failure_is_always_recordable() -> None:
    # Given a due callback, and a failure whose message holds a lone surrogate and runs long
    due = CallbackDue(
        event_id="evt_x", job_id="rj_1", tenant="t1", occurred_at=T0, callback_id="cb:rj_1:0:1", run_id="rj_1:0:1",
        url=CB_URL, body="{}", due_at=T0,
    )  # fmt: skip
    sent = SendResult(0.0, 3.0, failure_reason="unknown", error_message="caf\udce9 " + "x" * 5000)
    # When the executor makes its event
    failed = callback_result_event(due, sent, T0)
    # Then it encodes, with the message made valid and cut short
    assert isinstance(failed, CallbackFailed) and failed.error_message is not None
    assert failed.error_message.startswith("caf? ") and len(failed.error_message) == 1_000
    assert decode_event(encode_event(failed)) == failed
