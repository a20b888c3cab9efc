"""Recuro's cron alerts as pure timer decisions: warning, failure at the threshold, recovery, nothing twice on a
redelivered result, counts kept across a restart (the changelog's JSON), and the alert POST's retries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chronohook.retries import ALERT_RETRY_DELAYS
from schemas.changelog import AlertEntry, Entry, TimerEntry, decode_entry
from schemas.events import (
    AlertAbandoned,
    AlertDelivered,
    AlertDeliveryFailed,
    AlertDue,
    AlertRaised,
    AlertRetryScheduled,
    Envelope,
    Event,
    HttpRequestSpec,
    JobCreated,
    JobDue,
    JobFailed,
    JobSucceeded,
    RunOutcome,
)
from services.timer.alerts import next_alert
from services.timer.domain import decide, fire_entry

T0 = datetime(2026, 4, 10, 14, 5, 0, tzinfo=UTC)
S = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
CRON = "rc_77"
REQUEST = HttpRequestSpec(method="POST", url="https://example.com/hook")


class Timer:
    """The timer's entries as its shell keeps them, changed only through ``decide`` and ``fire_entry``."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}

    def consume(self, event: Event, now: datetime) -> list[Envelope]:
        changes, emitted = decide(self.entries.get, event, now)
        for key, entry in changes.items():
            if entry is None:
                self.entries.pop(key, None)
            else:
                self.entries[key] = entry
        return emitted

    def fire_all(self, now: datetime) -> list[Envelope]:
        out: list[Envelope] = []
        for key, entry in list(self.entries.items()):
            new, emitted = fire_entry(entry, now)
            if new is None:
                self.entries.pop(key, None)
            else:
                self.entries[key] = new
            out.extend(emitted)
        return out

    def restarted(self) -> Timer:
        """A new timer restored from the changelog: every entry through its JSON record."""
        fresh = Timer()
        fresh.entries = {k: decode_entry(v.model_dump_json()) for k, v in self.entries.items()}
        return fresh


def cron(threshold: int | None) -> JobCreated:
    return JobCreated(
        event_id="evt_cron",
        job_id=CRON,
        tenant="t1",
        occurred_at=T0 - S,
        api="recuro_cron",
        name="nightly",
        request=REQUEST,
        schedule="* * * * *",
        integer_id=77,
        alert_threshold=threshold,
    )


def result(due: JobDue, ok: bool) -> JobSucceeded | JobFailed:
    at = due.due_at + timedelta(milliseconds=50)
    outcome = RunOutcome(
        run_id=due.run_id,
        attempt=due.attempt,
        due_at=due.due_at,
        started_at=due.due_at,
        finished_at=at,
        duration_ms=50.0,
        request_headers={},
        request_body=None,
        response_status=200 if ok else 503,
    )
    base = dict(event_id=f"evt_r_{due.run_id}", job_id=due.job_id, tenant=due.tenant, occurred_at=at, outcome=outcome)
    if ok:
        return JobSucceeded(**base)
    return JobFailed(**base, failure_reason="http_server_error", error_message="HTTP 503")


def run_once(timer: Timer, minute: int, ok: bool) -> list[Envelope]:
    """Fire the cron's occurrence at T0 + ``minute`` min and feed its result back; the events decided."""
    now = T0 + minute * MINUTE
    dues = [e for e in timer.fire_all(now) if isinstance(e, JobDue)]
    assert len(dues) == 1
    return timer.consume(result(dues[0], ok), now + S)


def kinds(events: list[Envelope]) -> list[str]:
    return [e.alert.kind for e in events if isinstance(e, AlertRaised)]


@pytest.mark.parametrize(
    ("threshold", "outcomes", "expected"),
    [
        (1, [False, False, True], [["failure"], [], ["recovery"]]),
        (2, [False, False, False, True], [["warning"], ["failure"], [], ["recovery"]]),
        (3, [False, False, False, False, True], [["warning"], [], ["failure"], [], ["recovery"]]),
        (2, [True, False, True, False, False], [[], ["warning"], ["recovery"], ["warning"], ["failure"]]),
    ],
)
def test_alerts_follow_the_failures_in_a_row(threshold: int, outcomes: list[bool], expected: list[list[str]]) -> None:
    # Given a cron asking for alerts at `threshold` failures in a row
    timer = Timer()
    timer.consume(cron(threshold), T0 - S)

    # When its runs end as `outcomes`, one a minute
    raised = [kinds(run_once(timer, minute, ok)) for minute, ok in enumerate(outcomes)]

    # Then the alerts are Recuro's: warning first, failure at the threshold, recovery on the next success
    assert raised == expected


def test_a_cron_without_a_threshold_raises_nothing() -> None:
    # Given a cron without alert_threshold
    timer = Timer()
    timer.consume(cron(None), T0 - S)

    # When its runs fail and then succeed
    raised = [kinds(run_once(timer, minute, ok)) for minute, ok in enumerate([False, False, False, True])]

    # Then no alert is raised and no count is kept
    assert raised == [[], [], [], []]
    entry = timer.entries[CRON]
    assert isinstance(entry, TimerEntry) and entry.consecutive_failures == 0


def test_the_alert_carries_the_run_and_counts_and_its_post_is_due_at_once() -> None:
    # Given a cron with threshold 2 that failed once
    timer = Timer()
    timer.consume(cron(2), T0 - S)
    run_once(timer, 0, ok=False)

    # When it fails again
    emitted = run_once(timer, 1, ok=False)

    # Then a failure alert names the cron, the run and the counts, and its POST is handed out at once
    raised = next(e for e in emitted if isinstance(e, AlertRaised))
    due = next(e for e in emitted if isinstance(e, AlertDue))
    assert raised.alert.cron_id == 77 and raised.alert.name == "nightly"
    assert (raised.alert.consecutive_failures, raised.alert.alert_threshold) == (2, 2)
    assert raised.alert.failure_reason == "http_server_error" and raised.alert.response_status == 503
    assert raised.alert_id == f"alert:{raised.alert.run_id}" and due.alert_id == raised.alert_id
    assert due.attempt == 1 and due.alert == raised.alert and due.due_at == raised.occurred_at


def test_a_redelivered_result_raises_no_alert_twice() -> None:
    # Given a cron whose first run failed (a warning)
    timer = Timer()
    timer.consume(cron(2), T0 - S)
    due = next(e for e in timer.fire_all(T0) if isinstance(e, JobDue))
    first = timer.consume(result(due, ok=False), T0 + S)
    assert kinds(first) == ["warning"]

    # When the same result arrives again (an executor retried its publish)
    again = timer.consume(result(due, ok=False), T0 + 2 * S)

    # Then nothing is decided and the count stays at one
    assert again == []
    entry = timer.entries[CRON]
    assert isinstance(entry, TimerEntry) and entry.consecutive_failures == 1


def test_the_count_survives_a_restart_from_the_changelog() -> None:
    # Given a cron with threshold 3 that failed twice, and a timer restarted from its changelog records
    timer = Timer()
    timer.consume(cron(3), T0 - S)
    run_once(timer, 0, ok=False)
    run_once(timer, 1, ok=False)
    restarted = timer.restarted()

    # When the next run fails, then one succeeds
    third = run_once(restarted, 2, ok=False)
    fourth = run_once(restarted, 3, ok=True)

    # Then the restarted timer goes on counting: failure at the third, recovery after
    assert kinds(third) == ["failure"]
    assert kinds(fourth) == ["recovery"]


def test_next_alert_is_a_pure_count() -> None:
    # Given / When / Then: the table of (threshold, failures before, success) -> (failures after, alert)
    assert next_alert(2, 0, success=True) == (0, None)
    assert next_alert(2, 0, success=False) == (1, "warning")
    assert next_alert(2, 1, success=False) == (2, "failure")
    assert next_alert(2, 2, success=False) == (3, None)
    assert next_alert(2, 5, success=True) == (0, "recovery")
    assert next_alert(1, 0, success=False) == (1, "failure")


def _alert_entry(timer: Timer) -> AlertEntry:
    found = [e for e in timer.entries.values() if isinstance(e, AlertEntry)]
    assert len(found) == 1
    return found[0]


def delivery(entry: AlertEntry, attempt: int, at: datetime, status: int | None, no_dest: bool = False) -> Event:
    base = dict(
        event_id=f"evt_d_{attempt}",
        job_id=entry.job_id,
        tenant=entry.tenant,
        occurred_at=at,
        alert_id=entry.alert_id,
        attempt=attempt,
        started_at=at,
        duration_ms=5.0,
    )
    if status is not None and 200 <= status < 300:
        return AlertDelivered(**base, response_status=status, format="json")
    return AlertDeliveryFailed(
        **base,
        response_status=status,
        failure_reason="connection_error" if status is None else "http_server_error",
        no_destination=no_dest,
    )


def test_a_failed_alert_post_is_retried_then_abandoned() -> None:
    # Given a raised warning whose POST is with an executor
    timer = Timer()
    timer.consume(cron(2), T0 - S)
    run_once(timer, 0, ok=False)
    entry = _alert_entry(timer)
    at = T0 + 2 * S

    # When every attempt fails
    decided: list[Envelope] = []
    for attempt in range(1, len(ALERT_RETRY_DELAYS) + 2):
        decided += timer.consume(delivery(entry, attempt, at, 503), at)
        if attempt <= len(ALERT_RETRY_DELAYS):
            at += timedelta(seconds=ALERT_RETRY_DELAYS[attempt - 1])
            dues = [e for e in timer.fire_all(at) if isinstance(e, AlertDue)]
            assert [d.attempt for d in dues] == [attempt + 1]

    # Then it was retried on the callbacks' delays and abandoned after the last
    assert sum(isinstance(e, AlertRetryScheduled) for e in decided) == len(ALERT_RETRY_DELAYS)
    assert isinstance(decided[-1], AlertAbandoned) and decided[-1].attempts == len(ALERT_RETRY_DELAYS) + 1
    assert not any(isinstance(e, AlertEntry) for e in timer.entries.values())


def test_no_destination_abandons_at_once_and_a_delivery_ends_the_entry() -> None:
    # Given two raised alerts (warning, then failure) with their POSTs out
    timer = Timer()
    timer.consume(cron(2), T0 - S)
    run_once(timer, 0, ok=False)
    first = _alert_entry(timer)

    # When the first finds no destination
    abandoned = timer.consume(delivery(first, 1, T0 + 2 * S, None, no_dest=True), T0 + 2 * S)

    # Then it is abandoned without a retry
    assert [type(e) for e in abandoned] == [AlertAbandoned]

    # And when the next alert's POST is delivered, and that answer comes twice, its entry goes once, quietly
    run_once(timer, 1, ok=False)
    second = _alert_entry(timer)
    assert timer.consume(delivery(second, 1, T0 + MINUTE + 2 * S, 200), T0 + MINUTE + 2 * S) == []
    assert timer.consume(delivery(second, 1, T0 + MINUTE + 3 * S, 200), T0 + MINUTE + 3 * S) == []
    assert not any(isinstance(e, AlertEntry) for e in timer.entries.values())
