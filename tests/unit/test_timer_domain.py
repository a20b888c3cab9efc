"""The timer's pure decisions: on_event evolves a job's entry, fire hands out due attempts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from chronohook.ids import recuro_job_key, retry_job_id
from chronohook.retries import QUEDUP_RETRIES, RECURO_QUEUE_RETRIES, QueueSettingsLookup
from schemas.changelog import TimerEntry
from schemas.events import (
    CatchUp,
    Envelope,
    Event,
    HttpRequestSpec,
    JobCreated,
    JobDeadLettered,
    JobDeleted,
    JobDue,
    JobFailed,
    JobPaused,
    JobPushed,
    JobResumed,
    JobRetryChainResolved,
    JobRetryScheduled,
    JobScheduled,
    JobSucceeded,
    JobUpdated,
    OccurrencesMissed,
    QueueSettings,
    RetryPolicy,
    RunOutcome,
)
from services.timer.domain import decide, fire, on_event, run_id, webhook_id

T0 = datetime(2026, 4, 10, 14, 5, 30, tzinfo=UTC)
REQUEST = HttpRequestSpec(method="POST", url="https://example.com/hook", body='{"a":1}')
S = timedelta(seconds=1)


def pushed(delay: int = 0, integer_id: int = 847, attempt_number: int = 1, at: datetime = T0) -> JobPushed:
    return JobPushed(
        event_id=f"evt_push_{integer_id}",
        job_id=recuro_job_key(integer_id),
        tenant="t1",
        occurred_at=at,
        integer_id=integer_id,
        queue="emails",
        queue_id=12,
        request=REQUEST,
        payload={"a": 1},
        scheduled_at=at + delay * S,
        delay_seconds=delay,
        callback_url="https://example.com/cb",
        retry=RECURO_QUEUE_RETRIES,
        attempt_number=attempt_number,
    )


def created(
    schedule: str | None = None,
    run_at: datetime | None = None,
    active: bool = True,
    job_id: str = "job_a",
    timezone: str = "UTC",
    catch_up: CatchUp = "latest",
) -> JobCreated:
    return JobCreated(
        timezone=timezone,
        catch_up=catch_up,
        event_id="evt_created",
        job_id=job_id,
        tenant="t1",
        occurred_at=T0,
        api="quedup",
        name="Backup",
        request=REQUEST,
        schedule=schedule,
        run_at=run_at,
        retry=QUEDUP_RETRIES,
        active=active,
    )


def envelope(job_id: str, at: datetime) -> dict[str, object]:
    return {"event_id": f"evt_{at.timestamp()}", "job_id": job_id, "tenant": "t1", "occurred_at": at}


def outcome(due: JobDue, finished: datetime) -> RunOutcome:
    return RunOutcome(
        run_id=due.run_id, attempt=due.attempt, due_at=due.due_at, started_at=finished, finished_at=finished,
        duration_ms=0.0, request_headers={}, request_body=due.request.body,
    )  # fmt: skip


def succeeded(due: JobDue, finished: datetime) -> JobSucceeded:
    return JobSucceeded(**envelope(due.job_id, finished), outcome=outcome(due, finished))


def failed(due: JobDue, finished: datetime) -> JobFailed:
    return JobFailed(
        **envelope(due.job_id, finished),
        outcome=outcome(due, finished),
        failure_reason="http_server_error",
        error_message="HTTP 500",
    )


def apply(entry: TimerEntry | None, event: Event, now: datetime = T0) -> TimerEntry | None:
    new, emitted = on_event(entry, event, now)
    # Nothing is decided but, for a scheduled job, the JobScheduled telling the entry's next occurrence
    assert all(isinstance(e, JobScheduled) and new is not None and e.next_run_at == new.next_due for e in emitted)
    return new


def fire_one(entry: TimerEntry, now: datetime) -> tuple[TimerEntry, JobDue]:
    new, emitted = fire(entry, now)
    assert new is not None
    assert len(emitted) == 1, emitted
    assert isinstance(emitted[0], JobDue)
    return new, emitted[0]


# -- one-off pushes --------------------------------------------------------------------------------------------
def test_a_delayed_push_arms_next_due_at_its_scheduled_time() -> None:
    # Given a Recuro job pushed with a 300 s delay
    # When the timer consumes it
    entry = apply(None, pushed(delay=300))

    # Then the entry is armed for now + 300 s and remembers what a retry needs
    assert entry is not None
    assert entry.next_due == T0 + 300 * S
    assert entry.wake_at() == T0 + 300 * S
    assert (entry.integer_id, entry.queue, entry.queue_id, entry.attempt_number) == (847, "emails", 12, 1)


def test_fire_before_due_emits_nothing() -> None:
    # Given a job due in 300 s
    entry = apply(None, pushed(delay=300))
    assert entry is not None

    # When the timer fires a millisecond early
    after, emitted = fire(entry, T0 + 300 * S - timedelta(milliseconds=1))

    # Then nothing is handed out and the entry is unchanged
    assert emitted == []
    assert after == entry


def test_fire_at_due_emits_one_job_due_with_a_deterministic_run_id() -> None:
    # Given a job due in 300 s
    entry = apply(None, pushed(delay=300))
    assert entry is not None
    due_at = T0 + 300 * S

    # When the timer fires exactly at the due time
    after, due = fire_one(entry, due_at)

    # Then one JobDue carries the request, the due time, attempt 1 and a run id derived from (job, occurrence, 1)
    assert due.job_id == "rj_847"
    assert due.request == REQUEST
    assert due.due_at == due_at
    assert due.attempt == 1
    assert due.run_id == run_id("rj_847", due_at, 1) == f"rj_847:{int(due_at.timestamp() * 1000)}:1"
    assert due.next_run_at is None
    assert due.callback_url == "https://example.com/cb"
    # And the entry is disarmed with the run in flight
    assert after.next_due is None
    assert after.in_flight == (due.run_id,)
    # And firing again hands out nothing more
    assert fire(after, due_at + 10 * S)[1] == []
    # And the same inputs give the same event (replay-safe)
    assert fire(entry, due_at)[1] == [due]


def test_fire_within_the_lead_hands_the_job_out_early() -> None:
    # Given a job due in 300 s
    entry = apply(None, pushed(delay=300))
    assert entry is not None
    due_at = T0 + 300 * S

    # When the timer fires 40 ms early with a 40 ms lead
    _, emitted = fire(entry, due_at - timedelta(milliseconds=40), lead=timedelta(milliseconds=40))

    # Then the job is handed out for its real due time
    assert len(emitted) == 1
    assert isinstance(emitted[0], JobDue)
    assert emitted[0].due_at == due_at
    # But 41 ms early it is not
    assert fire(entry, due_at - timedelta(milliseconds=41), lead=timedelta(milliseconds=40))[1] == []


def test_success_of_the_in_flight_run_finishes_a_one_off() -> None:
    # Given a one-off job handed out
    entry = apply(None, pushed())
    assert entry is not None
    entry, due = fire_one(entry, T0)

    # When its run succeeds
    after, emitted = on_event(entry, succeeded(due, T0 + S), T0 + S)

    # Then the entry is gone and nothing follows
    assert after is None
    assert emitted == []


def test_results_for_unknown_run_ids_are_ignored() -> None:
    # Given a job with one run in flight
    entry = apply(None, pushed())
    assert entry is not None
    entry, due = fire_one(entry, T0)
    stranger = due.model_copy(update={"run_id": "rj_847:0:1"})

    # When a success and a failure arrive for a run the timer never handed out
    after_ok, ok_emitted = on_event(entry, succeeded(stranger, T0 + S), T0 + S)
    after_ko, ko_emitted = on_event(entry, failed(stranger, T0 + S), T0 + S)

    # Then the entry is untouched and nothing is decided
    assert (after_ok, ok_emitted) == (entry, [])
    assert (after_ko, ko_emitted) == (entry, [])
    # And a result for a job the timer does not know at all is ignored too
    assert on_event(None, succeeded(due, T0 + S), T0 + S) == (None, [])


# -- named jobs and crons --------------------------------------------------------------------------------------
def test_a_named_job_without_schedule_or_run_at_is_due_now() -> None:
    # Given a QuedUp job with neither schedule nor run_at
    entry = apply(None, created())
    # Then it is due at its creation time
    assert entry is not None
    assert entry.next_due == T0


def test_run_at_arms_the_one_off_and_schedule_wins_over_run_at() -> None:
    # Given a job to run once at a given time, and one with both a schedule and a run_at
    at = T0 + timedelta(days=1)
    once = apply(None, created(run_at=at))
    both = apply(None, created(schedule="* * * * *", run_at=at))

    # Then the one-off is due at run_at and the cron at its next minute boundary
    assert once is not None
    assert both is not None
    assert once.next_due == at
    assert both.next_due == datetime(2026, 4, 10, 14, 6, tzinfo=UTC)


def test_cron_arms_the_next_minute_and_firing_rearms_the_following_one() -> None:
    # Given a every-minute cron created at 14:05:30
    entry = apply(None, created(schedule="* * * * *"))
    assert entry is not None

    # Then it is armed for 14:06:00
    first = datetime(2026, 4, 10, 14, 6, tzinfo=UTC)
    assert entry.next_due == first

    # When the timer fires at 14:06:00
    entry, due = fire_one(entry, first)

    # Then the JobDue is for 14:06 and announces 14:07 as the next run; the entry is re-armed for 14:07
    assert due.due_at == first
    assert due.next_run_at == first + timedelta(minutes=1)
    assert entry.next_due == first + timedelta(minutes=1)
    assert entry.in_flight == (due.run_id,)

    # When that run succeeds
    settled = apply(entry, succeeded(due, first + S), first + S)

    # Then the cron stays armed for 14:07 with nothing in flight
    assert settled is not None
    assert settled.next_due == first + timedelta(minutes=1)
    assert settled.in_flight == ()

    # And the 14:07 occurrence gets its own run id
    _, due2 = fire_one(settled, first + timedelta(minutes=1))
    assert due2.run_id != due.run_id
    assert due2.next_run_at == first + timedelta(minutes=2)


def test_paused_entries_do_not_fire() -> None:
    # Given a job due now that is then paused
    entry = apply(None, created())
    paused = apply(entry, JobPaused(**envelope("job_a", T0)))
    assert paused is not None

    # When the timer fires well after its due time
    after, emitted = fire(paused, T0 + timedelta(hours=1))

    # Then nothing is handed out and it has no wake-up time
    assert emitted == []
    assert after == paused
    assert paused.wake_at() is None


def test_a_job_created_inactive_is_paused() -> None:
    # Given a cron created with is_active false
    entry = apply(None, created(schedule="* * * * *", active=False))
    # Then it is paused and never fires
    assert entry is not None
    assert entry.paused
    assert fire(entry, T0 + timedelta(hours=1))[1] == []


def test_resume_skips_cron_occurrences_missed_while_paused() -> None:
    # Given an every-minute cron paused at 14:05:30 (next due 14:06)
    entry = apply(None, created(schedule="* * * * *"))
    entry = apply(entry, JobPaused(**envelope("job_a", T0)))

    # When it is resumed at 14:20:10
    resumed_at = datetime(2026, 4, 10, 14, 20, 10, tzinfo=UTC)
    entry = apply(entry, JobResumed(**envelope("job_a", resumed_at)), resumed_at)

    # Then it is active and next due at 14:21, the 14 missed occurrences skipped
    assert entry is not None
    assert not entry.paused
    assert entry.next_due == datetime(2026, 4, 10, 14, 21, tzinfo=UTC)
    _, due = fire_one(entry, resumed_at + 50 * S)
    assert due.due_at == datetime(2026, 4, 10, 14, 21, tzinfo=UTC)


def test_resume_before_the_next_occurrence_keeps_it() -> None:
    # Given an every-minute cron paused and resumed within the same minute
    entry = apply(None, created(schedule="* * * * *"))
    entry = apply(entry, JobPaused(**envelope("job_a", T0)))
    entry = apply(entry, JobResumed(**envelope("job_a", T0 + 5 * S)), T0 + 5 * S)
    # Then the 14:06 occurrence is kept
    assert entry is not None
    assert entry.next_due == datetime(2026, 4, 10, 14, 6, tzinfo=UTC)


def test_update_rearms_from_the_update_time() -> None:
    # Given a one-off job due tomorrow
    entry = apply(None, created(run_at=T0 + timedelta(days=1)))

    # When it is updated to an hourly schedule
    update = JobUpdated(**envelope("job_a", T0 + S), name="Backup", request=REQUEST, schedule="0 * * * *")
    entry = apply(entry, update, T0 + S)

    # Then it is next due at the top of the next hour
    assert entry is not None
    assert entry.schedule == "0 * * * *"
    assert entry.next_due == datetime(2026, 4, 10, 15, 0, tzinfo=UTC)


def test_delete_drops_the_entry() -> None:
    # Given an armed cron
    entry = apply(None, created(schedule="* * * * *"))
    # When it is deleted
    after, emitted = on_event(entry, JobDeleted(**envelope("job_a", T0)), T0)
    # Then the entry is gone
    assert after is None
    assert emitted == []


def test_lifecycle_events_for_an_unknown_job_are_ignored() -> None:
    # Given no entry, events that only make sense for an existing job keep it absent
    for event in (
        JobPaused(**envelope("job_x", T0)),
        JobResumed(**envelope("job_x", T0)),
    ):
        assert on_event(None, event, T0) == (None, [])


def test_an_update_of_a_finished_job_arms_it_again() -> None:
    # Given a one-off job that has finished (the timer keeps no entry for it)
    later = T0 + timedelta(hours=1)
    update = JobUpdated(**envelope("job_x", T0), name="n", request=REQUEST, run_at=later, retry=QUEDUP_RETRIES)
    # When it is updated with a new run_at
    entry, emitted = on_event(None, update, T0)
    # Then it is armed for that time, with its retry policy, and fires then
    assert entry is not None
    assert entry.next_due == later
    assert entry.retry == QUEDUP_RETRIES
    assert emitted == []
    assert fire(entry, T0)[1] == []
    assert len(fire(entry, later)[1]) == 1


def test_an_update_of_a_paused_finished_job_stays_paused() -> None:
    update = JobUpdated(**envelope("job_x", T0), name="n", request=REQUEST, run_at=T0, active=False)
    entry, _ = on_event(None, update, T0)
    assert entry is not None
    assert entry.paused
    assert fire(entry, T0)[1] == []


# -- QuedUp retries --------------------------------------------------------------------------------------------
def test_quedup_failure_schedules_a_retry_slot() -> None:
    # Given a one-off QuedUp job handed out at T0
    entry = apply(None, created())
    assert entry is not None
    entry, due = fire_one(entry, T0)

    # When its run fails at T0 + 1 s
    failed_at = T0 + S
    after, emitted = on_event(entry, failed(due, failed_at), failed_at)

    # Then a retry (attempt 2) is scheduled immediately, and announced
    assert after is not None
    assert after.retry_slot is not None
    assert after.retry_slot.attempt == 2
    assert after.retry_slot.due_at == failed_at
    assert after.in_flight == ()
    assert len(emitted) == 1
    scheduled = emitted[0]
    assert isinstance(scheduled, JobRetryScheduled)
    assert (scheduled.failed_run_id, scheduled.next_attempt, scheduled.retry_at) == (due.run_id, 2, failed_at)
    assert scheduled.retry_job_id is None


def test_quedup_retries_follow_the_delays_then_dead_letter() -> None:
    # Given a one-off QuedUp job that fails on every attempt
    entry: TimerEntry | None = apply(None, created())
    assert entry is not None
    now = T0
    retry_times: list[datetime] = []
    attempts: list[int] = []
    dead: list[JobDeadLettered] = []
    run_ids: set[str] = set()

    # When each attempt is fired as soon as it is due and fails a second later
    while entry is not None:
        entry, due = fire_one(entry, now)
        attempts.append(due.attempt)
        run_ids.add(due.run_id)
        now = now + S
        entry, emitted = on_event(entry, failed(due, now), now)
        for event in emitted:
            if isinstance(event, JobRetryScheduled):
                retry_times.append(event.retry_at)
                now = event.retry_at
            else:
                assert isinstance(event, JobDeadLettered)
                dead.append(event)

    # Then every retry waited its delay (0, 300, 900, 3600, 10800, 21600 s after the failure)
    assert attempts == list(range(1, len(QUEDUP_RETRIES.delays) + 2))
    gaps = [(r - (r0 + S)).total_seconds() for r, r0 in zip(retry_times, [T0, *retry_times], strict=False)]
    assert gaps == list(QUEDUP_RETRIES.delays)
    # And each attempt had its own run id
    assert len(run_ids) == len(attempts)
    # And after the last retry the job is dead-lettered, with retries enabled, and the entry is gone
    assert len(dead) == 1
    assert dead[0].attempts == len(QUEDUP_RETRIES.delays) + 1
    assert dead[0].final_status == "dead_lettered"
    assert entry is None


def test_a_job_without_retries_is_dead_lettered_on_first_failure() -> None:
    # Given a job whose retry policy is empty
    entry = apply(None, created().model_copy(update={"retry": RetryPolicy()}))
    assert entry is not None
    entry, due = fire_one(entry, T0)

    # When its run fails
    after, emitted = on_event(entry, failed(due, T0 + S), T0 + S)

    # Then it is dead-lettered with retries disabled
    assert after is None
    assert len(emitted) == 1
    assert isinstance(emitted[0], JobDeadLettered)
    assert emitted[0].final_status == "failed_no_retries"
    assert emitted[0].attempts == 1


def test_a_failing_cron_keeps_its_schedule_while_retrying() -> None:
    # Given an every-minute cron handed out at 14:06
    entry = apply(None, created(schedule="* * * * *"))
    assert entry is not None
    first = datetime(2026, 4, 10, 14, 6, tzinfo=UTC)
    entry, due = fire_one(entry, first)

    # When the run fails
    after, _ = on_event(entry, failed(due, first + S), first + S)

    # Then the retry slot is armed and the next occurrence still stands
    assert after is not None
    assert after.next_due == first + timedelta(minutes=1)
    assert after.retry_slot is not None
    # And the retry is the same occurrence with attempt 2
    _, retry = fire_one(after, first + S)
    assert retry.attempt == 2
    assert retry.run_id == run_id("job_a", first, 2)


# -- Recuro retries --------------------------------------------------------------------------------------------
def test_recuro_failure_pushes_the_retry_as_a_new_job() -> None:
    # Given a Recuro job handed out
    entry = apply(None, pushed())
    assert entry is not None
    entry, due = fire_one(entry, T0)

    # When its run fails
    failed_at = T0 + 2 * S
    after, emitted = on_event(entry, failed(due, failed_at), failed_at)

    # Then the original's entry is finished
    assert after is None
    # And a JobRetryScheduled and a JobPushed for a new job follow, in that order
    assert [type(e) for e in emitted] == [JobRetryScheduled, JobPushed]
    scheduled, push = emitted
    assert isinstance(scheduled, JobRetryScheduled)
    assert isinstance(push, JobPushed)
    new_id = retry_job_id(847, 2)
    assert push.integer_id == new_id
    assert push.job_id == recuro_job_key(new_id) != "rj_847"
    assert push.attempt_number == 2
    assert push.retry_of == "rj_847"
    assert push.scheduled_at == failed_at + RECURO_QUEUE_RETRIES.delays[0] * S
    assert (push.queue, push.queue_id, push.request, push.payload) == ("emails", 12, REQUEST, {"a": 1})
    assert push.callback_url == "https://example.com/cb"
    assert push.retry == RECURO_QUEUE_RETRIES
    # And the announcement on the original job names the new one
    assert scheduled.job_id == "rj_847"
    assert scheduled.retry_job_id == push.job_id
    assert scheduled.next_attempt == 2
    assert scheduled.retry_at == push.scheduled_at
    # And replaying the same failure decides exactly the same events (deterministic ids)
    assert on_event(entry, failed(due, failed_at), failed_at)[1] == emitted


def run_chain(
    entry: TimerEntry | None, fails: int, queues: QueueSettingsLookup | None = None
) -> tuple[list[str], list[JobDue], list[Envelope]]:
    """Fire each job of a Recuro chain when due; the first ``fails`` attempts fail, the next one succeeds.

    Returns the chain's job ids, the JobDue of each attempt, and every event decided after a run."""
    now = T0
    chain: list[str] = []
    dues: list[JobDue] = []
    decided: list[Envelope] = []
    for _ in range(20):
        if entry is None:
            break
        chain.append(entry.job_id)
        entry, due = fire_one(entry, now)
        dues.append(due)
        now = now + S
        result = failed(due, now) if len(dues) <= fails else succeeded(due, now)
        changes, emitted = decide({entry.job_id: entry}.get, result, now, queues)
        assert changes.get(due.job_id, "gone") is None  # each job of the chain ends with its run
        decided.extend(emitted)
        entry = None
        for event in emitted:
            if isinstance(event, JobPushed):
                entry = apply(None, event, now)
                now = event.scheduled_at
    return chain, dues, decided


def test_recuro_retry_chain_ends_dead_lettered_on_the_original() -> None:
    # Given a Recuro job whose every attempt fails, each retry pushed as a new job
    # When each job of the chain is fired when due and fails
    chain, dues, decided = run_chain(apply(None, pushed()), fails=99)

    # Then there were 1 + 3 attempts on 4 distinct jobs, each retry linked to the original
    assert [d.attempt for d in dues] == [1, 2, 3, 4]
    assert len(set(chain)) == 4
    pushes = [e for e in decided if isinstance(e, JobPushed)]
    assert [p.retry_of for p in pushes] == ["rj_847"] * 3
    assert [p.attempt_number for p in pushes] == [2, 3, 4]
    # And each JobRetryScheduled is announced on the job that failed, naming its successor
    scheduled = [e for e in decided if isinstance(e, JobRetryScheduled)]
    assert [(s.job_id, s.retry_job_id) for s in scheduled] == list(pairwise(chain))
    # And the dead letter is on the original, naming the last retry's run, with retries enabled
    dead = [e for e in decided if isinstance(e, JobDeadLettered)]
    assert len(dead) == 1
    assert (dead[0].job_id, dead[0].failed_run_id, dead[0].attempts) == ("rj_847", dues[-1].run_id, 4)
    assert dead[0].final_status == "dead_lettered"
    # And every attempt of the chain sends one webhook-id: the original's
    assert {d.webhook_id for d in dues} == {webhook_id("rj_847", T0)}
    assert not [e for e in decided if isinstance(e, JobRetryChainResolved)]


def test_recuro_retry_that_succeeds_resolves_the_chain_on_the_original() -> None:
    # Given a Recuro job whose receiver fails twice, then succeeds
    # When the chain runs
    _, dues, decided = run_chain(apply(None, pushed()), fails=2)

    # Then three attempts ran on three jobs, one webhook-id across them
    assert [d.attempt for d in dues] == [1, 2, 3]
    assert len({d.webhook_id for d in dues}) == 1
    # And the chain is resolved as a success on the original, naming the succeeding run
    resolved = [e for e in decided if isinstance(e, JobRetryChainResolved)]
    assert len(resolved) == 1
    assert (resolved[0].job_id, resolved[0].resolution) == ("rj_847", "success")
    assert (resolved[0].run_id, resolved[0].attempts) == (dues[-1].run_id, 3)
    assert not [e for e in decided if isinstance(e, JobDeadLettered)]


def test_a_first_time_success_resolves_nothing() -> None:
    # Given a Recuro job that succeeds on its first attempt
    # When it runs
    _, _, decided = run_chain(apply(None, pushed()), fails=0)
    # Then nothing follows (its own JobSucceeded says it all)
    assert decided == []


def test_the_queue_settings_in_force_when_the_run_fails_decide() -> None:
    # Given a Recuro job pushed with the default delays, and its queue now at retry_delays [1, 2]
    fast = QueueSettings(retry_delays=(1, 2))

    # When the chain always fails
    _, dues, decided = run_chain(apply(None, pushed()), fails=99, queues=lambda _t, _q: fast)

    # Then the retries came 1 s and 2 s after each failure, and the third failure dead-lettered the original
    assert [d.attempt for d in dues] == [1, 2, 3]
    gaps = [(b.due_at - a.due_at) for a, b in pairwise(dues)]
    assert gaps == [2 * S, 3 * S]  # each run takes 1 s here, then the delay
    dead = [e for e in decided if isinstance(e, JobDeadLettered)]
    assert [(d.job_id, d.attempts, d.final_status) for d in dead] == [("rj_847", 3, "dead_lettered")]


def test_retries_disabled_on_the_queue_fail_the_job_without_retries() -> None:
    # Given a Recuro job whose queue has retries off
    off = QueueSettings(retries_enabled=False)

    # When its only attempt fails
    _, dues, decided = run_chain(apply(None, pushed()), fails=99, queues=lambda _t, _q: off)

    # Then one attempt ran and the job is dead-lettered with retries disabled (failed_no_retries)
    assert len(dues) == 1
    assert [type(e) for e in decided] == [JobDeadLettered]
    dead = decided[0]
    assert isinstance(dead, JobDeadLettered)
    assert (dead.job_id, dead.attempts, dead.final_status) == ("rj_847", 1, "failed_no_retries")


def test_retry_after_postpones_a_recuro_retry() -> None:
    # Given a Recuro job handed out
    entry = apply(None, pushed())
    assert entry is not None
    entry, due = fire_one(entry, T0)

    # When it fails with a 429 asking for 120 s (the queue's first delay is 60 s)
    at = T0 + S
    answer = outcome(due, at).model_copy(update={"response_status": 429, "response_headers": {"Retry-After": "120"}})
    result = JobFailed(**envelope(due.job_id, at), outcome=answer, failure_reason="http_client_error")
    _, emitted = on_event(entry, result, at)

    # Then the retry job is scheduled 120 s after the failure
    push = next(e for e in emitted if isinstance(e, JobPushed))
    assert push.scheduled_at == at + 120 * S


def test_quedup_retries_of_one_occurrence_share_its_run_id_prefix_and_webhook_id() -> None:
    # Given a one-off QuedUp job failing three times
    entry: TimerEntry | None = apply(None, created())
    now = T0
    dues: list[JobDue] = []
    for _ in range(3):
        assert entry is not None
        entry, due = fire_one(entry, now)
        dues.append(due)
        now = now + S
        entry, emitted = on_event(entry, failed(due, now), now)
        now = next(e for e in emitted if isinstance(e, JobRetryScheduled)).retry_at

    # Then the attempts' run ids differ only by attempt, and the webhook-id is the same on all
    assert [d.run_id for d in dues] == [run_id("job_a", T0, n) for n in (1, 2, 3)]
    assert {d.webhook_id for d in dues} == {webhook_id("job_a", T0)}
    assert (dues[1].due_at, dues[2].due_at) == (T0 + S, T0 + 2 * S + 300 * S)


def test_a_newer_cron_occurrence_supersedes_a_pending_retry_and_is_not_delayed() -> None:
    # Given an every-minute QuedUp cron whose 14:06 run failed twice (its next retry is 5 min out)
    entry: TimerEntry | None = apply(None, created(schedule="* * * * *"))
    assert entry is not None
    first = datetime(2026, 4, 10, 14, 6, tzinfo=UTC)
    entry, due = fire_one(entry, first)
    entry, _ = on_event(entry, failed(due, first + S), first + S)
    assert entry is not None
    entry, retry = fire_one(entry, first + S)
    entry, _ = on_event(entry, failed(retry, first + 2 * S), first + 2 * S)
    assert entry is not None and entry.retry_slot is not None
    assert entry.retry_slot.due_at == first + 2 * S + 300 * S

    # When 14:07 comes
    second = first + timedelta(minutes=1)
    after, emitted = fire(entry, second)

    # Then 14:07 is handed out on time, the 14:06 retry is dropped, and that is announced
    assert after is not None
    assert after.retry_slot is None
    resolved, next_due = emitted
    assert isinstance(resolved, JobRetryChainResolved)
    assert (resolved.resolution, resolved.attempts, resolved.job_id) == ("superseded", 2, "job_a")
    assert isinstance(next_due, JobDue)
    assert (next_due.due_at, next_due.attempt, next_due.run_id) == (second, 1, run_id("job_a", second, 1))
    assert resolved.run_id == next_due.run_id
    assert after.next_due == second + timedelta(minutes=1)


def test_a_late_failure_of_an_older_occurrence_schedules_nothing() -> None:
    # Given an every-minute cron whose 14:06 run is still in flight when 14:07 is handed out
    entry: TimerEntry | None = apply(None, created(schedule="* * * * *"))
    assert entry is not None
    first = datetime(2026, 4, 10, 14, 6, tzinfo=UTC)
    second = first + timedelta(minutes=1)
    entry, slow = fire_one(entry, first)
    entry, newer = fire_one(entry, second)
    # And 14:07 failed and has its own retry pending
    entry, _ = on_event(entry, failed(newer, second + S), second + S)
    assert entry is not None and entry.retry_slot is not None
    slot = entry.retry_slot

    # When the 14:06 run finally fails (a 15-minute timeout, say)
    late = first + 15 * 60 * S
    after, emitted = on_event(entry, failed(slow, late), late)

    # Then 14:06 is not retried: its chain is superseded, and 14:07's retry and schedule stand
    assert after is not None
    assert after.retry_slot == slot
    assert after.in_flight == ()
    assert [type(e) for e in emitted] == [JobRetryChainResolved]
    assert isinstance(emitted[0], JobRetryChainResolved)
    assert (emitted[0].resolution, emitted[0].run_id) == ("superseded", slow.run_id)


# -- schedules: time zones, the timer's word on the next occurrence, catch-up after downtime (decision 0025) -------
def _fire_all(entry: TimerEntry, now: datetime, lead: timedelta = timedelta(0)) -> tuple[TimerEntry, list[Envelope]]:
    """Fire until nothing more is due by ``now + lead``, as the timer's loop does."""
    out: list[Envelope] = []
    for _ in range(1000):
        new, emitted = fire(entry, now, lead)
        assert isinstance(new, TimerEntry)
        entry = new
        if not emitted:
            return entry, out
        out.extend(emitted)
    raise AssertionError("fire never settled")


def test_a_scheduled_job_is_armed_in_its_time_zone_and_the_timer_says_so() -> None:
    # Given a 09:00 New York job created at 14:05:30 UTC on 2026-04-10 (10:05:30 EDT)
    event = created(schedule="0 9 * * *", timezone="America/New_York")
    # When the timer consumes it
    entry, emitted = on_event(None, event, T0)
    # Then it is armed for 09:00 EDT the next day (13:00 UTC), keeping the zone and policy
    assert entry is not None
    assert entry.next_due == datetime(2026, 4, 11, 13, 0, tzinfo=UTC)
    assert (entry.timezone, entry.catch_up) == ("America/New_York", "latest")
    # And a JobScheduled tells the instant, with an id derived from the event it was decided from
    [scheduled] = emitted
    assert isinstance(scheduled, JobScheduled)
    assert (scheduled.next_run_at, scheduled.reason, scheduled.cause_event_id) == (
        entry.next_due,
        "created",
        "evt_created",
    )
    assert scheduled.occurred_at == T0
    assert on_event(None, event, T0 + timedelta(hours=5))[1] == emitted  # a replayed step: the same event, same id
    # And firing it announces the next 09:00 New York time
    _, due = fire_one(entry, datetime(2026, 4, 11, 13, 0, tzinfo=UTC))
    assert due.next_run_at == datetime(2026, 4, 12, 13, 0, tzinfo=UTC)


def test_one_off_jobs_get_no_jobscheduled() -> None:
    # Given a one-off named job and a Recuro push, When the timer consumes them, Then it decides nothing
    assert on_event(None, created(run_at=T0 + timedelta(days=1)), T0)[1] == []
    assert on_event(None, pushed(delay=5), T0)[1] == []
    # And resuming a paused one-off tells nothing either
    entry = apply(None, created(run_at=T0 + timedelta(days=1)))
    entry = apply(entry, JobPaused(**envelope("job_a", T0)))
    assert entry is not None
    assert on_event(entry, JobResumed(**envelope("job_a", T0 + S)), T0 + S)[1] == []


def test_update_and_resume_of_a_scheduled_job_are_told() -> None:
    # Given an every-minute job, paused
    entry = apply(None, created(schedule="* * * * *"))
    update = JobUpdated(
        **envelope("job_a", T0 + S), name="Backup", request=REQUEST, schedule="0 9 * * *", timezone="Europe/London"
    )
    # When it is moved to 09:00 London time
    updated, emitted = on_event(entry, update, T0 + S)
    # Then the timer re-arms it there (09:00 BST = 08:00 UTC) and says so
    assert updated is not None and updated.next_due == datetime(2026, 4, 11, 8, 0, tzinfo=UTC)
    assert [(type(e).__name__, getattr(e, "reason", None)) for e in emitted] == [("JobScheduled", "updated")]
    # When it is paused, then resumed two days later
    paused = apply(updated, JobPaused(**envelope("job_a", T0 + 2 * S)))
    resumed_at = datetime(2026, 4, 12, 12, 0, tzinfo=UTC)
    resumed, told = on_event(paused, JobResumed(**envelope("job_a", resumed_at)), resumed_at)
    # Then the occurrences missed while paused are skipped, and the resume is told
    assert resumed is not None and resumed.next_due == datetime(2026, 4, 13, 8, 0, tzinfo=UTC)
    [scheduled] = told
    assert isinstance(scheduled, JobScheduled)
    assert (scheduled.reason, scheduled.next_run_at) == ("resumed", resumed.next_due)


def test_after_downtime_latest_fires_the_most_recent_missed_occurrence_once() -> None:
    # Given an every-minute cron due at 14:06 whose timer was down until 14:10:30
    entry = apply(None, created(schedule="* * * * *"))
    assert entry is not None
    late = datetime(2026, 4, 10, 14, 10, 30, tzinfo=UTC)
    # When the timer fires
    after, emitted = _fire_all(entry, late)
    # Then the five missed occurrences (14:06-14:10) are recorded, and only the latest, 14:10, runs
    missed, due = emitted
    assert isinstance(missed, OccurrencesMissed) and isinstance(due, JobDue)
    minute = timedelta(minutes=1)
    assert (missed.missed_from, missed.missed_to, missed.count) == (T0 + 30 * S, T0 + 30 * S + 4 * minute, 5)
    assert (missed.policy, missed.fired, missed.next_run_at) == ("latest", missed.missed_to, T0 + 30 * S + 5 * minute)
    assert due.due_at == missed.fired and due.next_run_at == missed.next_run_at
    # And the job resumes from the present: next due 14:11
    assert after.next_due == datetime(2026, 4, 10, 14, 11, tzinfo=UTC)
    assert after.occurrence == missed.fired
    # And a replay of the step decides the same events, with the same ids
    assert fire(entry, late)[1] == emitted


def test_after_downtime_skip_fires_nothing_and_records_the_miss() -> None:
    # Given the same cron with catch_up "skip"
    entry = apply(None, created(schedule="* * * * *", catch_up="skip"))
    assert entry is not None
    late = datetime(2026, 4, 10, 14, 10, 30, tzinfo=UTC)
    # When the timer fires after the downtime
    after, emitted = _fire_all(entry, late)
    # Then nothing runs: the miss is recorded, and the next occurrence is 14:11
    [missed] = emitted
    assert isinstance(missed, OccurrencesMissed)
    assert (missed.policy, missed.fired, missed.count) == ("skip", None, 5)
    assert after.next_due == missed.next_run_at == datetime(2026, 4, 10, 14, 11, tzinfo=UTC)
    assert after.in_flight == ()
    # And 14:11 then runs as usual
    _, due = fire_one(after, datetime(2026, 4, 10, 14, 11, tzinfo=UTC))
    assert due.due_at == datetime(2026, 4, 10, 14, 11, tzinfo=UTC)


def test_a_count_of_missed_occurrences_stops_at_its_cap() -> None:
    # Given an every-second cron whose timer was down for an hour
    entry = apply(None, created(schedule="* * * * * *", catch_up="skip"))
    assert entry is not None
    # When it fires, Then the miss is counted up to the cap, and spans the whole hour
    [missed] = _fire_all(entry, T0 + timedelta(hours=1))[1]
    assert isinstance(missed, OccurrencesMissed)
    assert missed.count == 1000
    assert (missed.missed_from, missed.missed_to) == (T0 + S, T0 + timedelta(hours=1))


def test_an_occurrence_late_by_less_than_the_misfire_threshold_still_runs_each_one() -> None:
    # Given an every-two-seconds cron due at 14:05:32 whose timer stalled for 20 s (under the 60 s threshold)
    entry = apply(None, created(schedule="*/2 * * * * *", catch_up="skip"))
    assert entry is not None
    # When the timer fires at 14:05:52
    after, emitted = _fire_all(entry, T0 + 22 * S)
    # Then every occurrence from 14:05:32 to 14:05:52 runs once, late, and none is recorded as missed
    assert [type(e).__name__ for e in emitted] == ["JobDue"] * 11
    assert [e.due_at for e in emitted if isinstance(e, JobDue)] == [T0 + (2 + 2 * i) * S for i in range(11)]
    assert after.next_due == T0 + 24 * S


def test_while_the_timer_is_up_no_occurrence_fires_twice_and_none_is_skipped() -> None:
    # Given an every-two-seconds cron in New York, run across the fall-back hour's end (06:00 UTC, 01:00 EST again)
    start = datetime(2026, 11, 1, 5, 55, tzinfo=UTC)
    event = created(schedule="*/2 * * * * *", timezone="America/New_York").model_copy(update={"occurred_at": start})
    entry = apply(None, event, start)
    assert entry is not None
    # When the timer ticks at uneven intervals (0.3-1.9 s), handing out 50 ms ahead, until 07:05 UTC
    end, lead = datetime(2026, 11, 1, 7, 5, tzinfo=UTC), timedelta(milliseconds=50)
    now, steps, fired = start, [0.3, 1.9, 0.7, 1.1, 1.3], list[JobDue]()
    i = 0
    while now < end:
        now += steps[i % len(steps)] * S
        i += 1
        entry, emitted = _fire_all(entry.model_copy(update={"in_flight": ()}), now, lead)
        assert not any(isinstance(e, OccurrencesMissed) for e in emitted)
        fired.extend(e for e in emitted if isinstance(e, JobDue))
    # Then each occurrence ran exactly once and in order: every even second until 01:59:58 EDT (05:59:58 UTC), none
    # in the fold's second pass (01:00-01:59 EST: those local times ran already), and every one from 02:00:00 EST
    due = [d.due_at for d in fired]
    assert len({d.run_id for d in fired}) == len(fired) == len(set(due))
    first_pass = [start + 2 * k * S for k in range(1, 150)]
    after_fold = [datetime(2026, 11, 1, 7, 0, tzinfo=UTC) + 2 * k * S for k in range(0, 151)]
    assert due == [d for d in first_pass + after_fold if d <= now + lead]
    assert due[148] == datetime(2026, 11, 1, 5, 59, 58, tzinfo=UTC) and len(due) > 149 + 140
