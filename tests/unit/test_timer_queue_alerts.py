"""Recuro queue alerts (``alerts_enabled``, decision 0020) as pure timer decisions: a queue job's final outcome
becomes a ``QueueOutcome`` keyed by the queue; consuming it, the timer counts the queue's final failures in a row
and raises ``failure`` (threshold 1, no warning) and ``recovery``, delivered like a cron's alerts. Nothing for an
attempt that will be retried, nothing while alerts are off, nothing twice on a redelivery, counts kept across a
restart (the changelog's JSON)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chronohook.ids import queue_id, recuro_job_key
from schemas.changelog import AlertEntry, Entry, QueueAlertsEntry, decode_entry
from schemas.events import (
    AlertDelivered,
    AlertDue,
    AlertRaised,
    Envelope,
    Event,
    HttpRequestSpec,
    JobDeadLettered,
    JobDue,
    JobFailed,
    JobPushed,
    JobRetryScheduled,
    JobSucceeded,
    QueueOutcome,
    QueueSettings,
    RunOutcome,
)
from schemas.topics import queue_settings_key
from services.timer.alerts import final_outcome, on_queue_outcome
from services.timer.domain import decide, fire_entry

T0 = datetime(2026, 4, 10, 14, 5, 0, tzinfo=UTC)
S = timedelta(seconds=1)
TENANT = "t1"
QUEUE = "emails"
QID = queue_id(TENANT, QUEUE)
QKEY = queue_settings_key(TENANT, QID)
REQUEST = HttpRequestSpec(method="POST", url="https://example.com/hook")
ALERTS_NO_RETRIES = QueueSettings(alerts_enabled=True, retries_enabled=False)


class Timer:
    """The timer's entries as its shell keeps them (every partition in one map: keys never collide), changed only
    through ``decide`` and ``fire_entry``, with the queues' settings in force."""

    def __init__(self, settings: QueueSettings) -> None:
        self.entries: dict[str, Entry] = {}
        self.settings = settings

    def queues(self, _tenant: str, _queue: str) -> QueueSettings:
        return self.settings

    def consume(self, event: Event, now: datetime) -> list[Envelope]:
        changes, emitted = decide(self.entries.get, event, now, self.queues)
        for key, entry in changes.items():
            if entry is None:
                self.entries.pop(key, None)
            else:
                self.entries[key] = entry
        return emitted

    def fire_all(self, now: datetime) -> list[Envelope]:
        out: list[Envelope] = []
        for key, entry in list(self.entries.items()):
            new, emitted = fire_entry(entry, now, queues=self.queues)
            if new is None:
                self.entries.pop(key, None)
            else:
                self.entries[key] = new
            out.extend(emitted)
        return out

    def restarted(self) -> Timer:
        """A new timer restored from the changelog: every entry through its JSON record."""
        fresh = Timer(self.settings)
        fresh.entries = {k: decode_entry(v.model_dump_json()) for k, v in self.entries.items()}
        return fresh


def push(n: int, at: datetime) -> JobPushed:
    return JobPushed(
        event_id=f"evt_push_{n}",
        job_id=recuro_job_key(n),
        tenant=TENANT,
        occurred_at=at,
        integer_id=n,
        queue=QUEUE,
        queue_id=QID,
        request=REQUEST,
        scheduled_at=at,
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
        response_status=200 if ok else 500,
    )
    base = dict(event_id=f"evt_r_{due.run_id}", job_id=due.job_id, tenant=due.tenant, occurred_at=at, outcome=outcome)
    if ok:
        return JobSucceeded(**base)
    return JobFailed(**base, failure_reason="http_server_error", error_message="HTTP 500")


def run_job(timer: Timer, n: int, ok: bool) -> list[Envelope]:
    """Push job ``n`` (due at T0 + n s), fire it and feed its result back: the events decided on the result."""
    at = T0 + n * S
    timer.consume(push(n, at), at)
    dues = [e for e in timer.fire_all(at) if isinstance(e, JobDue)]
    assert len(dues) == 1
    return timer.consume(result(dues[0], ok), at + S / 2)


def through_log(timer: Timer, decided: list[Envelope], now: datetime) -> list[Envelope]:
    """What the log brings back to the timer: each QueueOutcome decided, consumed in the queue key's partition."""
    out: list[Envelope] = []
    for e in decided:
        if isinstance(e, QueueOutcome):
            out += timer.consume(e, now)
    return out


def kinds(events: list[Envelope]) -> list[str]:
    return [e.alert.kind for e in events if isinstance(e, AlertRaised)]


def outcomes(events: list[Envelope]) -> list[QueueOutcome]:
    return [e for e in events if isinstance(e, QueueOutcome)]


def test_a_final_failure_is_sent_to_the_queue_key_and_raises_a_failure_alert_there() -> None:
    # Given a queue with alerts on and retries off
    timer = Timer(ALERTS_NO_RETRIES)

    # When a job of it fails
    decided = run_job(timer, 1, ok=False)

    # Then the timer of the job's partition decides the chain's end and a QueueOutcome keyed by the queue
    [outcome] = outcomes(decided)
    assert any(isinstance(e, JobDeadLettered) and e.final_status == "failed_no_retries" for e in decided)
    assert outcome.job_id == QKEY == f"queue:{TENANT}:{QID}"
    assert (outcome.queue, outcome.queue_id, outcome.outcome) == (QUEUE, QID, "failed_no_retries")
    assert (outcome.source_job_id, outcome.attempts, outcome.response_status) == (recuro_job_key(1), 1, 500)
    # And consuming it (the queue key's partition) raises a failure alert, keyed by the queue, its POST due at once
    raised = through_log(timer, decided, T0 + 2 * S)
    alert_event = next(e for e in raised if isinstance(e, AlertRaised))
    due = next(e for e in raised if isinstance(e, AlertDue))
    alert = alert_event.alert
    assert (alert.kind, alert.queue, alert.queue_id, alert.cron_id, alert.name) == ("failure", QUEUE, QID, None, None)
    assert (alert.consecutive_failures, alert.alert_threshold) == (1, 1)
    assert alert.job_id == recuro_job_key(1) and alert.run_id == outcome.run_id
    assert (alert.failure_reason, alert.response_status, alert.error_message) == ("http_server_error", 500, "HTTP 500")
    assert alert_event.alert_id == f"alert:{outcome.run_id}" == due.alert_id
    assert alert_event.job_id == due.job_id == QKEY
    assert due.attempt == 1 and due.alert == alert and due.due_at == alert_event.occurred_at
    # And the queue's count and the alert's delivery are entries of the timer
    count = timer.entries[QKEY]
    assert isinstance(count, QueueAlertsEntry) and count.consecutive_failures == 1
    pending = timer.entries[alert_event.alert_id]
    assert isinstance(pending, AlertEntry) and pending.job_id == QKEY


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([False, False, True], [["failure"], [], ["recovery"]]),
        ([True, False, True, True, False], [[], ["failure"], ["recovery"], [], ["failure"]]),
    ],
)
def test_failure_once_per_streak_then_recovery(results: list[bool], expected: list[list[str]]) -> None:
    # Given a queue with alerts on and retries off
    timer = Timer(ALERTS_NO_RETRIES)

    # When its jobs end as `results`, one after another
    raised = []
    for n, ok in enumerate(results, start=1):
        raised.append(kinds(through_log(timer, run_job(timer, n, ok), T0 + (n + 1) * S)))

    # Then the first final failure raises a failure, no repeat while failures go on, the next success a recovery
    assert raised == expected


def test_a_retried_attempt_counts_nothing_and_the_chain_end_counts_once() -> None:
    # Given a queue with alerts on and one retry after 1 s
    timer = Timer(QueueSettings(alerts_enabled=True, retry_delays=(1,)))

    # When a job's first attempt fails
    first = run_job(timer, 1, ok=False)

    # Then a retry is decided and no outcome goes to the queue
    assert any(isinstance(e, JobRetryScheduled) for e in first) and outcomes(first) == []
    retry_push = next(e for e in first if isinstance(e, JobPushed))

    # When the retry (a new job) fails too
    timer.consume(retry_push, retry_push.occurred_at)
    [due] = [e for e in timer.fire_all(retry_push.scheduled_at) if isinstance(e, JobDue)]
    second = timer.consume(result(due, ok=False), due.due_at + S)

    # Then the chain ends dead-lettered, one outcome naming the original and both attempts, and a failure alert
    [outcome] = outcomes(second)
    assert (outcome.outcome, outcome.source_job_id, outcome.attempts) == ("dead_lettered", recuro_job_key(1), 2)
    assert outcome.run_id == due.run_id
    assert kinds(through_log(timer, second, due.due_at + 2 * S)) == ["failure"]


def test_a_retry_that_succeeds_is_the_queues_success() -> None:
    # Given a queue with alerts on and one retry, whose previous job ended in a failure alert
    timer = Timer(QueueSettings(alerts_enabled=True, retry_delays=(1,)))
    first = run_job(timer, 1, ok=False)
    timer.consume(next(e for e in first if isinstance(e, JobPushed)), T0 + 2 * S)
    [due] = [e for e in timer.fire_all(T0 + 3 * S) if isinstance(e, JobDue)]
    assert kinds(through_log(timer, timer.consume(result(due, ok=False), T0 + 4 * S), T0 + 4 * S)) == ["failure"]
    # And a next job whose first attempt fails
    retried = run_job(timer, 5, ok=False)
    assert outcomes(retried) == []

    # When its retry succeeds
    timer.consume(next(e for e in retried if isinstance(e, JobPushed)), T0 + 6 * S)
    [due] = [e for e in timer.fire_all(T0 + 7 * S) if isinstance(e, JobDue)]
    decided = timer.consume(result(due, ok=True), T0 + 8 * S)

    # Then that is the queue's success: a recovery, and the count's entry goes
    [outcome] = outcomes(decided)
    assert (outcome.outcome, outcome.source_job_id, outcome.attempts) == ("success", recuro_job_key(5), 2)
    assert kinds(through_log(timer, decided, T0 + 9 * S)) == ["recovery"]
    assert QKEY not in timer.entries


def test_a_queue_without_alerts_enabled_sends_nothing() -> None:
    # Given a queue with retries off and alerts off (Recuro's default)
    timer = Timer(QueueSettings(retries_enabled=False))

    # When its jobs fail and succeed
    decided = run_job(timer, 1, ok=False) + run_job(timer, 2, ok=True)

    # Then no outcome goes to the queue and nothing is counted
    assert outcomes(decided) == []
    assert not any(isinstance(e, QueueAlertsEntry | AlertEntry) for e in timer.entries.values())


def test_redelivered_results_and_outcomes_raise_nothing_twice() -> None:
    # Given a queue with alerts on and retries off, and a job that failed
    timer = Timer(ALERTS_NO_RETRIES)
    timer.consume(push(1, T0), T0)
    [due] = [e for e in timer.fire_all(T0) if isinstance(e, JobDue)]
    decided = timer.consume(result(due, ok=False), T0 + S)
    assert kinds(through_log(timer, decided, T0 + S)) == ["failure"]

    # When the job's result arrives again, and so does its QueueOutcome
    again = timer.consume(result(due, ok=False), T0 + 2 * S)
    repeated = through_log(timer, decided, T0 + 3 * S)

    # Then nothing is decided, and the queue still counts one failure
    assert again == [] and repeated == []
    count = timer.entries[QKEY]
    assert isinstance(count, QueueAlertsEntry) and count.consecutive_failures == 1


def test_the_count_survives_a_restart_from_the_changelog() -> None:
    # Given a queue whose job failed (a failure alert), and a timer restarted from its changelog records
    timer = Timer(ALERTS_NO_RETRIES)
    through_log(timer, run_job(timer, 1, ok=False), T0 + 2 * S)
    restarted = timer.restarted()

    # When the next job fails, then one succeeds
    second = kinds(through_log(restarted, run_job(restarted, 2, ok=False), T0 + 3 * S))
    third = kinds(through_log(restarted, run_job(restarted, 3, ok=True), T0 + 4 * S))

    # Then the restarted timer goes on counting: no repeat of the failure, a recovery after
    assert (second, third) == ([], ["recovery"])


def test_a_queue_alert_is_delivered_like_a_crons() -> None:
    # Given a queue's failure alert whose POST is with an executor
    timer = Timer(ALERTS_NO_RETRIES)
    raised = through_log(timer, run_job(timer, 1, ok=False), T0 + 2 * S)
    due = next(e for e in raised if isinstance(e, AlertDue))

    # When the executor reports it delivered (keyed, as the due was, by the queue)
    delivered = AlertDelivered(
        event_id="evt_delivered",
        job_id=due.job_id,
        tenant=TENANT,
        occurred_at=T0 + 3 * S,
        alert_id=due.alert_id,
        attempt=1,
        started_at=T0 + 3 * S,
        duration_ms=4.0,
        response_status=200,
        format="json",
    )
    after = timer.consume(delivered, T0 + 3 * S)

    # Then the alert's entry goes, quietly, and the queue's count stays
    assert after == [] and due.alert_id not in timer.entries
    assert isinstance(timer.entries[QKEY], QueueAlertsEntry)


def test_final_outcome_is_what_ends_a_chain() -> None:
    # Given a run's results and what the timer decided on each
    due = JobDue(
        event_id="evt_due", job_id="rj_1", tenant=TENANT, occurred_at=T0, run_id="rj_1:0:2", due_at=T0, attempt=2,
        request=REQUEST,
    )  # fmt: skip
    base = dict(event_id="evt_x", job_id="rj_1", tenant=TENANT, occurred_at=T0, failed_run_id=due.run_id)
    dead = JobDeadLettered(**base, attempts=3, final_status="dead_lettered")
    no_retries = JobDeadLettered(**base, attempts=1, final_status="failed_no_retries")
    retry = JobRetryScheduled(**base, next_attempt=3, retry_at=T0 + S)

    # When / Then: a success ends it, a dead letter ends it, a retry does not
    assert final_outcome(result(due, ok=True), []) == ("success", 2)
    assert final_outcome(result(due, ok=False), [dead]) == ("dead_lettered", 3)
    assert final_outcome(result(due, ok=False), [no_retries]) == ("failed_no_retries", 1)
    assert final_outcome(result(due, ok=False), [retry]) is None


def test_on_queue_outcome_is_a_pure_count() -> None:
    # Given a queue's outcomes, as the log brings them
    def outcome(run: str, kind: str) -> QueueOutcome:
        return QueueOutcome(
            event_id=f"evt_{run}", job_id=QKEY, tenant=TENANT, occurred_at=T0, queue=QUEUE, queue_id=QID,
            outcome=kind, source_job_id="rj_1", run_id=run, attempts=1,
        )  # fmt: skip

    # When they are counted one after the other
    entry: QueueAlertsEntry | None = None
    seen: list[tuple[int, list[str]]] = []
    for run, kind in [("a", "dead_lettered"), ("b", "failed_no_retries"), ("b", "failed_no_retries"), ("c", "success")]:
        entry, _alert, events = on_queue_outcome(entry, outcome(run, kind))
        seen.append((entry.consecutive_failures if entry else 0, kinds(events)))

    # Then: failure at the first, none at the second, the repeat of the second counts nothing, recovery at the end
    assert seen == [(1, ["failure"]), (2, []), (2, []), (0, ["recovery"])]
