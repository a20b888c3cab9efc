"""A dead letter's retention, as the timer decides it: pure functions, the clock passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.changelog import Entry, PurgeEntry
from schemas.events import (
    DeadLetterReplayed,
    Envelope,
    Event,
    HttpRequestSpec,
    JobDeadLettered,
    JobDue,
    JobFailed,
    JobPurged,
    JobPushed,
    QueueSettings,
    RetryPolicy,
    RunOutcome,
)
from services.timer.domain import decide, fire_entry
from services.timer.retention import purge_key

T0 = datetime(2026, 4, 10, 14, 5, 30, tzinfo=UTC)
S = timedelta(seconds=1)
DAY = timedelta(days=1)
REQUEST = HttpRequestSpec(method="POST", url="http://127.0.0.2:9/fails")


class Timer:
    """The timer's entries as a dict, stepped by ``decide`` (consumed events) and ``fire_entry`` (due entries)."""

    def __init__(self, queues: dict[str, QueueSettings] | None = None) -> None:
        self.entries: dict[str, Entry] = {}
        self.queues = queues

    def lookup(self, _tenant: str, queue: str) -> QueueSettings:
        assert self.queues is not None
        return self.queues.get(queue, QueueSettings())

    def consume(self, event: Event, now: datetime) -> list[Envelope]:
        changes, emitted = decide(self.entries.get, event, now, self.lookup if self.queues is not None else None)
        for key, entry in changes.items():
            if entry is None:
                self.entries.pop(key, None)
            else:
                self.entries[key] = entry
        return emitted

    def fire(self, key: str, now: datetime) -> list[Envelope]:
        entry, emitted = fire_entry(self.entries[key], now)
        if entry is None:
            self.entries.pop(key)
        else:
            self.entries[key] = entry
        return emitted


def env(job_id: str, at: datetime) -> dict[str, Any]:
    return {"event_id": f"evt_{job_id}_{at.timestamp()}", "job_id": job_id, "tenant": "t1", "occurred_at": at}


def dead_letter_of(timer: Timer, queue: str = "emails", delays: tuple[float, ...] = ()) -> JobDeadLettered:
    """A Recuro job pushed at T0 that fails on its only attempt (no retry delays left): the dead letter decided."""
    push = JobPushed(
        **env("rj_847", T0),
        integer_id=847, queue=queue, queue_id=12, request=REQUEST, scheduled_at=T0, retry=RetryPolicy(delays=delays),
    )  # fmt: skip
    assert timer.consume(push, T0) == []
    [due] = timer.fire("rj_847", T0)
    assert isinstance(due, JobDue)
    outcome = RunOutcome(
        run_id=due.run_id, attempt=1, due_at=T0, started_at=T0, finished_at=T0 + S, duration_ms=1000.0,
        request_headers={}, request_body=None, response_status=500,
    )  # fmt: skip
    failed = JobFailed(**env("rj_847", T0 + S), outcome=outcome, failure_reason="http_server_error")
    decided = timer.consume(failed, T0 + S)
    dead = [e for e in decided if isinstance(e, JobDeadLettered)]
    assert len(dead) == 1
    return dead[0]


def exhausted(timer: Timer, queue: str = "emails") -> JobDeadLettered:
    """Retries enabled but none left: a dead letter (an empty queue delay list would be failed_no_retries)."""
    assert timer.queues is not None
    settings = timer.queues.get(queue, QueueSettings()).model_copy(update={"retry_delays": ()})
    timer.queues[queue] = settings
    return dead_letter_of(timer, queue)


def test_a_dead_letter_is_stamped_with_its_queues_retention() -> None:
    # Given a queue keeping dead letters 3 days, and one keeping the default (14)
    timer = Timer({"short": QueueSettings(dlq_retention_days=3)})
    # When a job of each runs out of retries at T0 + 1 s
    short = exhausted(timer, "short")
    timer.entries.clear()
    default = exhausted(timer, "emails")
    # Then each dead letter says when it will be purged
    assert short.final_status == "dead_lettered" and short.purge_at == T0 + S + 3 * DAY
    assert default.purge_at == T0 + S + 14 * DAY


def test_without_a_queue_lookup_a_job_without_retries_is_not_kept() -> None:
    # Given a timer without queue settings, and a job whose push carried no retry delays
    dead = dead_letter_of(Timer(None), delays=())
    # Then its retries were off: failed_no_retries is not kept as a dead letter
    assert dead.final_status == "failed_no_retries" and dead.purge_at is None


def test_failed_no_retries_arms_no_purge() -> None:
    # Given a queue with retries disabled
    timer = Timer({"emails": QueueSettings(retries_enabled=False)})
    dead = dead_letter_of(timer)
    # When the timer reads its JobDeadLettered back
    timer.consume(dead, T0 + 2 * S)
    # Then nothing is armed
    assert dead.purge_at is None and purge_key("rj_847") not in timer.entries


def test_a_dead_letter_is_purged_once_its_retention_has_passed() -> None:
    # Given a dead letter of a 7-day queue, read back by the timer (keyed by the chain's original)
    timer = Timer({"emails": QueueSettings(dlq_retention_days=7)})
    dead = exhausted(timer)
    assert timer.consume(dead, T0 + 2 * S) == []
    key = purge_key("rj_847")
    entry = timer.entries[key]
    assert isinstance(entry, PurgeEntry) and entry.wake_at() == T0 + S + 7 * DAY
    # When the entry is looked at a second early, then on time
    early = timer.fire(key, T0 + 7 * DAY)
    on_time = timer.fire(key, T0 + S + 7 * DAY)
    # Then nothing happens early; on time one JobPurged (retention) for the job, and the entry is gone
    assert early == []
    assert len(on_time) == 1 and isinstance(on_time[0], JobPurged)
    assert (on_time[0].job_id, on_time[0].reason) == ("rj_847", "retention")
    assert key not in timer.entries


def test_a_purge_fired_twice_has_one_event_id() -> None:
    # Given the same armed entry in two timers (a crash before the transaction committed, then a restart)
    first, second = Timer({}), Timer({})
    for timer in (first, second):
        timer.consume(exhausted(timer), T0 + 2 * S)
    # When each fires it
    at = T0 + 15 * DAY
    [a] = first.fire(purge_key("rj_847"), at)
    [b] = second.fire(purge_key("rj_847"), at + S)
    # Then the two are one event to any consumer that deduplicates
    assert a.event_id == b.event_id


def test_replay_and_delete_cancel_the_purge() -> None:
    for cancel in (
        DeadLetterReplayed(**env("rj_847", T0 + DAY), replay_job_id="rj_9", replay_integer_id=9),
        JobPurged(**env("rj_847", T0 + DAY), reason="deleted"),
    ):
        # Given an armed purge
        timer = Timer({})
        timer.consume(exhausted(timer), T0 + 2 * S)
        assert purge_key("rj_847") in timer.entries
        # When the dead letter is replayed, or deleted
        emitted = timer.consume(cancel, T0 + DAY)
        # Then the purge is cancelled, and nothing is decided
        assert emitted == [] and purge_key("rj_847") not in timer.entries, cancel.type


def test_a_purge_makes_the_timer_forget_a_pending_job() -> None:
    # Given a pending Recuro job
    timer = Timer({})
    push = JobPushed(
        **env("rj_5", T0), integer_id=5, queue="q", queue_id=1, request=REQUEST, scheduled_at=T0 + DAY,
    )  # fmt: skip
    timer.consume(push, T0)
    assert "rj_5" in timer.entries
    # When it is purged
    timer.consume(JobPurged(**env("rj_5", T0 + S), reason="queue_purged"), T0 + S)
    # Then the timer forgets it
    assert "rj_5" not in timer.entries


def test_reading_the_same_dead_letter_twice_arms_one_entry() -> None:
    # Given an armed purge
    timer = Timer({})
    dead = exhausted(timer)
    timer.consume(dead, T0 + 2 * S)
    # When the JobDeadLettered is read again (redelivered)
    changes, emitted = decide(timer.entries.get, dead, T0 + 3 * S)
    # Then nothing changes
    assert (changes, emitted) == ({}, [])
