"""The callback body's version and final_status (docs/callbacks.md), decided by the timer with the run's result."""

from __future__ import annotations

import json
from datetime import timedelta

from schemas.events import CallbackDue, Envelope, JobDeadLettered, JobDue, JobPushed, RetryPolicy
from services.timer.callbacks import CALLBACK_VERSION
from tests.unit.test_callbacks import T0, Timer, pushed, result

S_LATER = T0 + timedelta(seconds=1)


def _callback_body(emitted: list[Envelope]) -> dict[str, object]:
    [cb_due] = [e for e in emitted if isinstance(e, CallbackDue)]
    body: dict[str, object] = json.loads(cb_due.body)
    return body


def _run(timer: Timer, status: int) -> tuple[JobDue, list[Envelope]]:
    [due] = [e for e in timer.fire_all(T0) if isinstance(e, JobDue)]
    return due, timer.consume(result(due, S_LATER, status), S_LATER)


def test_the_body_carries_its_version_and_success() -> None:
    # Given a Recuro job with a callback_url
    timer = Timer()
    timer.consume(pushed(), T0)
    # When its run succeeds
    _, emitted = _run(timer, 200)
    # Then the callback's body is versioned and says success
    body = _callback_body(emitted)
    assert body["version"] == CALLBACK_VERSION == 1
    assert (body["status"], body["final_status"], body["success"]) == ("completed", "success", True)


def test_a_failed_run_with_a_retry_ahead_reads_retrying() -> None:
    timer = Timer()
    timer.consume(pushed(), T0)  # one retry delay
    _, emitted = _run(timer, 503)
    assert _callback_body(emitted)["final_status"] == "retrying"


def test_a_failed_run_without_retries_reads_failed_no_retries() -> None:
    # Given a job whose queue has retries disabled
    timer = Timer()
    timer.consume(pushed().model_copy(update={"retry": RetryPolicy(delays=())}), T0)
    # When its run fails
    _, emitted = _run(timer, 503)
    # Then the callback says so
    assert _callback_body(emitted)["final_status"] == "failed_no_retries"


def test_the_last_retry_of_a_chain_reads_failed_with_retries_as_its_get_does() -> None:
    # Given the second attempt of a chain whose one retry is used up
    timer = Timer()
    retry: JobPushed = pushed().model_copy(update={"attempt_number": 2, "retry_of": "rj_1"})
    timer.consume(retry, T0)
    # When it fails
    _, emitted = _run(timer, 503)
    # Then the callback reports the retry job's own status, as GET /api/jobs/{it} does (decision 0034)...
    assert _callback_body(emitted)["final_status"] == "failed_with_retries"
    # ...and the dead letter is the chain's original's
    [dead] = [e for e in emitted if isinstance(e, JobDeadLettered)]
    assert (dead.job_id, dead.final_status) == ("rj_1", "dead_lettered")
