"""The one retry decision (chronohook/retries.py): every kind of job, every outcome, Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from chronohook.retries import (
    QUEDUP_RETRIES,
    RECURO_QUEUE_RETRIES,
    RETRY_AFTER_CAP,
    DeadLetter,
    Done,
    Policy,
    RetryAt,
    Step,
    next_step,
    policy_for,
    requested_wait,
)
from schemas.events import JobFailed, JobSucceeded, QueueSettings, RetryPolicy, RunOutcome

NOW = datetime(2026, 4, 10, 14, 5, 30, tzinfo=UTC)
S = timedelta(seconds=1)
MIN = 60 * S
H = 3600 * S

QUEDUP = policy_for("quedup", QUEDUP_RETRIES)
RECURO = policy_for("recuro", RECURO_QUEUE_RETRIES, QueueSettings())
RECURO_OFF = policy_for("recuro", RECURO_QUEUE_RETRIES, QueueSettings(retries_enabled=False))
RECURO_FAST = policy_for("recuro", RECURO_QUEUE_RETRIES, QueueSettings(retry_delays=(1, 2)))
CRON = policy_for("recuro_cron", RetryPolicy())


def outcome(status: int | None = 500, headers: dict[str, str] | None = None) -> RunOutcome:
    return RunOutcome(
        run_id="rj_1:0:1", attempt=1, due_at=NOW, started_at=NOW, finished_at=NOW, duration_ms=1.0,
        request_headers={}, request_body=None, response_status=status, response_headers=headers or {},
    )  # fmt: skip


def ok() -> JobSucceeded:
    return JobSucceeded(event_id="e", job_id="rj_1", tenant="t", occurred_at=NOW, outcome=outcome(200))


def fail(status: int | None = 500, headers: dict[str, str] | None = None) -> JobFailed:
    reason = "connection_error" if status is None else "http_server_error" if status >= 500 else "http_client_error"
    return JobFailed(
        event_id="e", job_id="rj_1", tenant="t", occurred_at=NOW, outcome=outcome(status, headers),
        failure_reason=reason,
    )  # fmt: skip


def http_date(at: datetime) -> str:
    return format_datetime(at.astimezone(UTC), usegmt=True)


# (name, policy, attempt that just ran, its result, the step expected)
CASES: list[tuple[str, Policy, int, JobSucceeded | JobFailed, Step]] = [
    # -- QuedUp: immediately, immediately, +5 min, +15 min, +1 h, +3 h, +6 h, then failed
    ("quedup success", QUEDUP, 1, ok(), Done(attempts=1)),
    ("quedup 1st failure: again immediately", QUEDUP, 1, fail(), RetryAt(at=NOW, attempt=2)),
    ("quedup 2nd failure: +5 min", QUEDUP, 2, fail(None), RetryAt(at=NOW + 5 * MIN, attempt=3)),
    ("quedup 3rd failure: +15 min", QUEDUP, 3, fail(404), RetryAt(at=NOW + 15 * MIN, attempt=4)),
    ("quedup 4th failure: +1 h", QUEDUP, 4, fail(), RetryAt(at=NOW + H, attempt=5)),
    ("quedup 5th failure: +3 h", QUEDUP, 5, fail(), RetryAt(at=NOW + 3 * H, attempt=6)),
    ("quedup 6th failure: +6 h", QUEDUP, 6, fail(), RetryAt(at=NOW + 6 * H, attempt=7)),
    ("quedup 7th failure: failed", QUEDUP, 7, fail(), DeadLetter(attempts=7, retries_enabled=True)),
    ("quedup success on the 7th", QUEDUP, 7, ok(), Done(attempts=7)),
    # -- Recuro queue jobs: the queue's retry_delays while retries_enabled
    ("recuro success", RECURO, 1, ok(), Done(attempts=1)),
    ("recuro 1st failure: +60 s", RECURO, 1, fail(), RetryAt(at=NOW + MIN, attempt=2)),
    ("recuro 2nd failure: +30 min", RECURO, 2, fail(), RetryAt(at=NOW + 30 * MIN, attempt=3)),
    ("recuro 3rd failure: +3 h", RECURO, 3, fail(), RetryAt(at=NOW + 3 * H, attempt=4)),
    ("recuro 4th failure: dead letter", RECURO, 4, fail(), DeadLetter(attempts=4, retries_enabled=True)),
    ("recuro retries off", RECURO_OFF, 1, fail(), DeadLetter(attempts=1, retries_enabled=False)),
    ("recuro retries off, success", RECURO_OFF, 1, ok(), Done(attempts=1)),
    ("recuro [1, 2]: +1 s", RECURO_FAST, 1, fail(), RetryAt(at=NOW + S, attempt=2)),
    ("recuro [1, 2]: +2 s", RECURO_FAST, 2, fail(), RetryAt(at=NOW + 2 * S, attempt=3)),
    ("recuro [1, 2]: then dead", RECURO_FAST, 3, fail(), DeadLetter(attempts=3, retries_enabled=True)),
    ("recuro, delays shortened mid-chain", RECURO_FAST, 4, fail(), DeadLetter(attempts=4, retries_enabled=True)),
    # -- Recuro crons: no retries, the next occurrence is the next try
    ("cron success", CRON, 1, ok(), Done(attempts=1)),
    ("cron failure", CRON, 1, fail(), DeadLetter(attempts=1, retries_enabled=False)),
    # -- Retry-After on 429/503: postpones, never brings forward, capped
    ("429, Retry-After 120 s over a 60 s delay", RECURO, 1, fail(429, {"Retry-After": "120"}),
     RetryAt(at=NOW + 120 * S, attempt=2, retry_after=True)),
    ("503, retry-after (lower case) 10 s under a 60 s delay", RECURO, 1, fail(503, {"retry-after": "10"}),
     RetryAt(at=NOW + MIN, attempt=2)),
    ("429 on QuedUp's immediate retry", QUEDUP, 1, fail(429, {"Retry-After": "7"}),
     RetryAt(at=NOW + 7 * S, attempt=2, retry_after=True)),
    ("503, HTTP date 10 min ahead", RECURO, 1, fail(503, {"Retry-After": http_date(NOW + 10 * MIN)}),
     RetryAt(at=NOW + 10 * MIN, attempt=2, retry_after=True)),
    ("429, HTTP date in the past", RECURO, 1, fail(429, {"Retry-After": http_date(NOW - H)}),
     RetryAt(at=NOW + MIN, attempt=2)),
    ("429, huge seconds: capped", RECURO, 1, fail(429, {"Retry-After": "999999999999999999999"}),
     RetryAt(at=NOW + RETRY_AFTER_CAP, attempt=2, retry_after=True)),
    ("429, a date years ahead: capped", RECURO, 1, fail(429, {"Retry-After": http_date(NOW + 900 * 24 * H)}),
     RetryAt(at=NOW + RETRY_AFTER_CAP, attempt=2, retry_after=True)),
    ("429, cap under the schedule's own 3 h", RECURO, 3, fail(429, {"Retry-After": "86400"}),
     RetryAt(at=NOW + 3 * H, attempt=4)),
    ("500 with Retry-After: not honoured", RECURO, 1, fail(500, {"Retry-After": "600"}),
     RetryAt(at=NOW + MIN, attempt=2)),
    ("429 with garbage Retry-After", RECURO, 1, fail(429, {"Retry-After": "soon"}),
     RetryAt(at=NOW + MIN, attempt=2)),
    ("429 with negative Retry-After", RECURO, 1, fail(429, {"Retry-After": "-5"}),
     RetryAt(at=NOW + MIN, attempt=2)),
    ("429 when the retries ran out: dead all the same", RECURO, 4, fail(429, {"Retry-After": "5"}),
     DeadLetter(attempts=4, retries_enabled=True)),
    ("429 with retries off", RECURO_OFF, 1, fail(429, {"Retry-After": "5"}),
     DeadLetter(attempts=1, retries_enabled=False)),
]  # fmt: skip


@pytest.mark.parametrize(("policy", "attempt", "result", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_next_step(policy: Policy, attempt: int, result: JobSucceeded | JobFailed, expected: Step) -> None:
    # Given a policy, the attempt that just ran and its result, at NOW
    # When the next step is decided
    step = next_step(policy, attempt, result, NOW)
    # Then it is the expected one
    assert step == expected


def test_the_same_inputs_decide_the_same_step() -> None:
    # Given one failure with a Retry-After date
    result = fail(429, {"Retry-After": http_date(NOW + 2 * MIN)})
    # When it is decided twice (a replay)
    # Then both decisions are equal: nothing but the inputs counts
    assert next_step(RECURO, 1, result, NOW) == next_step(RECURO, 1, result, NOW)


def test_policy_for_each_kind() -> None:
    # Given the policies each kind of job carries
    # When the policy in force is chosen
    # Then a Recuro job follows its queue's settings when known, else its push's; others follow their own
    assert policy_for("recuro", RECURO_QUEUE_RETRIES, QueueSettings(retry_delays=(5,))) == Policy(True, (5.0,))
    assert policy_for("recuro", RECURO_QUEUE_RETRIES) == Policy(True, (60.0, 1800.0, 10800.0))
    assert policy_for("quedup", QUEDUP_RETRIES, QueueSettings(retry_delays=(5,))) == Policy(
        True, (0.0, 300.0, 900.0, 3600.0, 10800.0, 21600.0)
    )
    assert policy_for("recuro_cron", RetryPolicy()) == Policy(False, ())
    # And an enabled queue whose list is empty retries nothing but is not "retries off"
    assert next_step(policy_for("recuro", RetryPolicy(), QueueSettings(retry_delays=())), 1, fail(), NOW) == (
        DeadLetter(attempts=1, retries_enabled=True)
    )


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [
        (429, {"Retry-After": "0"}, timedelta(0)),
        (503, {"RETRY-AFTER": " 30 "}, 30 * S),
        (429, {"Retry-After": "Fri, 10 Apr 2026 14:06:30 GMT"}, MIN),
        (429, {"Retry-After": "Fri, 10 Apr 2026 14:06:30 -0000"}, MIN),
        (429, {"Retry-After": "1.5"}, None),
        (429, {"Retry-After": "٣"}, None),  # a non-ASCII digit is not delay-seconds
        (429, {}, None),
        (502, {"Retry-After": "30"}, None),
        (None, {"Retry-After": "30"}, None),
    ],
)
def test_requested_wait(status: int | None, headers: dict[str, str], wait: timedelta | None) -> None:
    # Given an answer's status and headers
    # When the wait it asks for is read
    # Then it is the expected one (None: nothing to honour)
    assert requested_wait(status, headers, NOW) == wait
