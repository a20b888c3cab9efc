"""One rule per decision (decision 0034): ``final_status``, delivery retries and ``next_run_at``, each decided by one
pure function in the kernel, and every reader copying its answer.

The chain walks run the timer's pure decisions (``decide``/``fire_entry``) and the read model's fold (``evolve``) over
the same events, and compare every run's callback body with the job's view, as ``GET /api/jobs/{id}`` shows it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from chronohook.readmodel.views import JobView, evolve
from chronohook.retries import (
    ALERT_RETRY_DELAYS,
    CALLBACK_RETRY_DELAYS,
    DeadLetter,
    Done,
    RetryAt,
    Step,
    delivery_retry_at,
    final_status,
)
from chronohook.schedule import first_run_at
from schemas.events import (
    CallbackDue,
    Envelope,
    Event,
    FinalStatus,
    JobDue,
    JobRetryScheduled,
    RetryPolicy,
)
from services.ingest.commands import create_quedup_job
from services.ingest.models import CreateJobRequest
from tests.unit.test_callbacks import T0, Timer, pushed, result

S = timedelta(seconds=1)
AT = datetime(2026, 4, 10, 14, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("step", "retry", "expected"),
    [
        (Done(attempts=1), False, "success"),
        (Done(attempts=2), True, "success"),
        (RetryAt(at=AT, attempt=2), False, "retrying"),
        (RetryAt(at=AT, attempt=3), True, "failed_with_retries"),
        (DeadLetter(attempts=1, retries_enabled=False), False, "failed_no_retries"),
        (DeadLetter(attempts=3, retries_enabled=True), False, "dead_lettered"),
        # A retry job's record is its own attempt's: the chain's dead end is its original's (decision 0034)
        (DeadLetter(attempts=2, retries_enabled=True), True, "failed_with_retries"),
        (DeadLetter(attempts=2, retries_enabled=False), True, "failed_with_retries"),
        # Undecided (a failed run before the timer's decision): a retry is final at once, an original waits
        (None, True, "failed_with_retries"),
        (None, False, None),
    ],
)
def test_final_status_is_one_rule(step: Step | None, retry: bool, expected: FinalStatus | None) -> None:
    # Given a run's step and whether its record is a retry job; When deciding; Then the one answer
    assert final_status(step, retry=retry) == expected


@pytest.mark.parametrize(
    ("delays", "attempt", "expected"),
    [
        (CALLBACK_RETRY_DELAYS, 1, 5),
        (CALLBACK_RETRY_DELAYS, 2, 30),
        (CALLBACK_RETRY_DELAYS, 5, 1800),
        (CALLBACK_RETRY_DELAYS, 6, None),  # the sixth attempt was the last
        (ALERT_RETRY_DELAYS, 1, 5),
        (ALERT_RETRY_DELAYS, 6, None),
        ((), 1, None),
        ((7.0,), 0, None),  # no attempt 0
    ],
)
def test_a_delivery_is_retried_after_each_delay_then_given_up(
    delays: tuple[float, ...], attempt: int, expected: float | None
) -> None:
    # Given a callback's or alert's failed attempt; When asking for its next try; Then the delay's end, or none
    got = delivery_retry_at(delays, attempt, AT)
    assert got == (None if expected is None else AT + expected * S)


class Chain:
    """The timer's pure decisions and the read model's fold over the same events, as the services apply them."""

    def __init__(self) -> None:
        self.timer = Timer()
        self.views: dict[str, JobView] = {}
        self.callbacks: list[CallbackDue] = []

    def apply(self, events: list[Envelope], now: datetime) -> None:
        """Fold each event and feed it to the timer; what the timer decides is folded and fed in turn (its topic)."""
        for event in events:
            self._fold(cast(Event, event))
            self.apply(self.timer.consume(cast(Event, event), now), now)

    def _fold(self, event: Event) -> None:
        after = evolve(self.views.get(event.job_id), event)
        if after is None:
            self.views.pop(event.job_id, None)
        else:
            self.views[event.job_id] = after
        if isinstance(event, CallbackDue):
            self.callbacks.append(event)

    def run(self, now: datetime, status: int) -> bool:
        """Hand out what is due by ``now`` and answer each run with ``status``; False when nothing was due."""
        dues = [e for e in self.timer.fire_all(now) if isinstance(e, JobDue)]
        for due in dues:
            self._fold(due)
            self.apply([result(due, now + 0.05 * S, status)], now + 0.05 * S)
        return bool(dues)


@pytest.mark.parametrize(
    ("delays", "statuses", "originals_end"),
    [
        ((1,), [503, 503], "dead_lettered"),  # the case: retry_delays [1], always failing
        ((1, 2), [503, 503, 503], "dead_lettered"),
        ((1, 2), [503, 200], "success"),
        ((), [503], "failed_no_retries"),
        ((1,), [200], "success"),
    ],
)
def test_every_runs_callback_says_what_its_job_reads(
    delays: tuple[float, ...], statuses: list[int], originals_end: FinalStatus
) -> None:
    # Given a Recuro job with a callback_url on a queue retrying after ``delays``
    chain = Chain()
    chain.apply([pushed().model_copy(update={"retry": RetryPolicy(delays=delays)})], T0)
    now = T0
    for status in statuses:
        # When each attempt of its chain runs and answers ``status``
        assert chain.run(now, status)
        # Then the run's callback says the final_status its job's view reads right after it
        last = chain.callbacks[-1]
        body = json.loads(last.body)
        view = chain.views[last.job_id]
        assert body["job_id"] == view.integer_id
        assert body["final_status"] == view.final_status
        assert body["attempt_number"] == view.attempt_number
        now += timedelta(seconds=max(delays, default=0)) + S
    # And the chain ran every attempt, one callback each, and ended on its original
    assert not chain.run(now + timedelta(hours=1), 200)
    assert len(chain.callbacks) == len(statuses)
    original = chain.views[pushed().job_id]
    assert original.final_status == originals_end
    assert (original.dead_lettered_at is not None) == (originals_end == "dead_lettered")


def test_a_retry_scheduled_before_it_carried_final_status_reads_the_same() -> None:
    # Given a chain's events as the timer writes them now
    chain = Chain()
    chain.apply([pushed().model_copy(update={"retry": RetryPolicy(delays=(1, 2))})], T0)
    chain.run(T0, 503)
    chain.run(T0 + 2 * S, 503)
    retry_job = next(v for v in chain.views.values() if v.retry_of is not None)
    # When an old record (no final_status) is folded instead of each JobRetryScheduled
    for job_id, view in list(chain.views.items()):
        scheduled = JobRetryScheduled(
            event_id=f"evt_old_{job_id}", job_id=job_id, tenant=view.tenant, occurred_at=T0,
            failed_run_id="r", next_attempt=view.attempt_number + 1, retry_at=T0 + S, retry_job_id="rj_x",
        )  # fmt: skip
        assert scheduled.final_status is None
        before = view.model_copy(update={"final_status": None})
        # Then the read model decides what the timer would have carried
        after = evolve(before, scheduled)
        assert after is not None
        assert after.final_status == ("failed_with_retries" if view.retry_of else "retrying")
    assert retry_job.final_status == "failed_with_retries"


@pytest.mark.parametrize(
    ("schedule", "timezone", "run_at", "expected"),
    [
        ("*/5 * * * *", "UTC", None, "2026-04-10T14:10:00+00:00"),
        ("0 9 * * *", "Europe/Berlin", None, "2026-04-11T07:00:00+00:00"),
        (None, "UTC", "2026-04-12T00:00:00+00:00", "2026-04-12T00:00:00+00:00"),
        (None, "UTC", None, "2026-04-10T14:05:00+00:00"),
    ],
)
def test_ingest_answers_the_next_run_at_the_timer_arms(
    schedule: str | None, timezone: str, run_at: str | None, expected: str
) -> None:
    # Given a QuedUp create as ingest builds it (its immediate next_run_at)
    req = CreateJobRequest.model_validate(
        {
            "name": "n",
            "method": "POST",
            "url": "https://example.com/x",
            "schedule": schedule,
            "timezone": timezone,
            "run_at": run_at,
        }
    )
    created = create_quedup_job(req, "t1", "job_x", AT)
    # When the timer arms the job from that event
    timer = Timer()
    timer.consume(created, AT)
    entry = timer.entries["job_x"]
    # Then both come from first_run_at and agree
    assert created.next_run_at == getattr(entry, "next_due", None) == datetime.fromisoformat(expected)
    assert first_run_at(schedule, timezone, "latest", created.run_at, AT) == created.next_run_at
