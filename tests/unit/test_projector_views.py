"""The projector's pure fold: the read model of a job after each event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chronohook.readmodel.views import JobView, evolve, run_view
from schemas.events import (
    CallbackAbandoned,
    CallbackDue,
    CallbackFailed,
    CallbackRetryScheduled,
    CallbackSucceeded,
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
    RunOutcome,
)

T0 = datetime(2026, 4, 10, 14, 5, 30, tzinfo=UTC)
S = timedelta(seconds=1)
REQUEST = HttpRequestSpec(method="POST", url="https://example.com/hook", body='{"a":1}')


def env(job_id: str, at: datetime, n: int = 0) -> dict[str, object]:
    return {"event_id": f"evt_{job_id}_{n}_{at.timestamp()}", "job_id": job_id, "tenant": "t1", "occurred_at": at}


def fold(events: list[Event]) -> list[JobView | None]:
    """Every intermediate view, in order."""
    views: list[JobView | None] = []
    view: JobView | None = None
    for event in events:
        view = evolve(view, event)
        views.append(view)
    return views


def created(
    job_id: str = "job_a",
    schedule: str | None = None,
    run_at: datetime | None = None,
    next_run_at: datetime | None = None,
) -> JobCreated:
    return JobCreated(
        **env(job_id, T0),
        api="quedup", name="Backup", request=REQUEST, schedule=schedule, run_at=run_at, next_run_at=next_run_at,
    )  # fmt: skip


def pushed(job_id: str = "rj_847", attempt_number: int = 1, retry_of: str | None = None) -> JobPushed:
    return JobPushed(
        **env(job_id, T0),
        integer_id=int(job_id.removeprefix("rj_")), queue="emails", queue_id=12, request=REQUEST,
        payload={"a": 1}, scheduled_at=T0 + 300 * S, delay_seconds=300, attempt_number=attempt_number,
        retry_of=retry_of,
    )  # fmt: skip


def due(job_id: str, at: datetime, next_run_at: datetime | None = None, attempt: int = 1) -> JobDue:
    return JobDue(
        **env(job_id, at, attempt),
        run_id=f"{job_id}:{int(at.timestamp() * 1000)}:{attempt}", due_at=at, attempt=attempt, request=REQUEST,
        next_run_at=next_run_at,
    )  # fmt: skip


def outcome(d: JobDue, finished: datetime, status: int) -> RunOutcome:
    return RunOutcome(
        run_id=d.run_id, attempt=d.attempt, due_at=d.due_at, started_at=d.due_at, finished_at=finished,
        duration_ms=(finished - d.due_at).total_seconds() * 1000, request_headers={"X-A": "1"},
        request_body=d.request.body, response_status=status, response_body="ok" if status < 300 else "no",
    )  # fmt: skip


def succeeded(d: JobDue, finished: datetime) -> JobSucceeded:
    return JobSucceeded(**env(d.job_id, finished, 10), outcome=outcome(d, finished, 200))


def failed(d: JobDue, finished: datetime) -> JobFailed:
    return JobFailed(
        **env(d.job_id, finished, 11),
        outcome=outcome(d, finished, 503), failure_reason="http_server_error", error_message="HTTP 503",
    )  # fmt: skip


# -- QuedUp ----------------------------------------------------------------------------------------------------
def test_quedup_one_off_goes_active_then_completed() -> None:
    # Given a QuedUp one-off job to run at T0 + 60 s
    run_at = T0 + 60 * S
    d = due("job_a", run_at)

    # When it is created, handed out and succeeds
    created_v, due_v, done_v = fold([created(run_at=run_at), d, succeeded(d, run_at + S)])

    # Then it is active with next_run_at = run_at, then has no next run, then is completed
    assert created_v is not None
    assert (created_v.status, created_v.next_run_at, created_v.name) == ("active", run_at, "Backup")
    assert created_v.created_at == created_v.updated_at == T0
    assert due_v is not None
    assert due_v.status == "active"
    assert due_v.next_run_at is None
    assert done_v is not None
    assert done_v.status == "completed"
    assert done_v.next_run_at is None
    assert done_v.runs_count == 1
    assert done_v.last_run_at == run_at + S


def test_quedup_one_off_without_run_at_is_next_due_at_creation() -> None:
    # Given a QuedUp job with neither run_at nor schedule
    (view,) = fold([created()])
    # Then its next run is its creation time
    assert view is not None
    assert view.next_run_at == T0


def test_quedup_cron_stays_active_and_follows_job_due() -> None:
    # Given an every-minute QuedUp cron created at 14:05:30
    first = datetime(2026, 4, 10, 14, 6, tzinfo=UTC)
    d1 = due("job_c", first, next_run_at=first + 60 * S)
    d2 = due("job_c", first + 60 * S, next_run_at=first + 120 * S)

    # When two occurrences run and succeed
    views = fold(
        [
            created("job_c", schedule="* * * * *", next_run_at=first),
            d1,
            succeeded(d1, first + S),
            d2,
            succeeded(d2, first + 61 * S),
        ]
    )

    # Then next_run_at starts at the instant its create carried, then follows each JobDue's next_run_at
    assert [v.next_run_at for v in views if v] == [
        first,
        first + 60 * S,
        first + 60 * S,
        first + 120 * S,
        first + 120 * S,
    ]
    # And the cron never completes
    assert all(v is not None and v.status == "active" for v in views)
    last = views[-1]
    assert last is not None
    assert last.runs_count == 2


def test_a_scheduled_jobs_first_run_is_copied_from_its_event_never_computed() -> None:
    # Given a scheduled job whose create carries ingest's first run (15:00), and a version-1 create that carries none
    first = datetime(2026, 4, 10, 15, 0, tzinfo=UTC)
    (view,) = fold([created(schedule="0 * * * *", run_at=T0 + timedelta(days=3), next_run_at=first)])
    old, told = fold(
        [
            created("job_old", schedule="0 * * * *"),
            JobScheduled(**env("job_old", T0), next_run_at=first, reason="created", cause_event_id="evt_c"),
        ]
    )
    # Then the first reads the instant carried (the schedule wins over run_at)
    assert view is not None and view.next_run_at == first
    # And the version-1 one has none until the timer's JobScheduled tells it
    assert old is not None and old.next_run_at is None
    assert told is not None and told.next_run_at == first


def test_quedup_retry_shows_as_the_next_run_then_dead_letter_fails_the_job() -> None:
    # Given a one-off QuedUp job whose run failed and was retried
    d = due("job_a", T0)
    retry_at = T0 + 300 * S
    retry = JobRetryScheduled(**env("job_a", T0 + S), failed_run_id=d.run_id, next_attempt=2, retry_at=retry_at)
    dead = JobDeadLettered(**env("job_a", T0 + 2 * S), failed_run_id=d.run_id, attempts=2, final_status="dead_lettered")

    # When the events fold
    _, _, failed_v, retry_v, dead_v = fold([created(), d, failed(d, T0 + S), retry, dead])

    # Then a failure alone does not end the job, the retry is shown as the next run
    assert failed_v is not None
    assert failed_v.status == "active"
    assert failed_v.runs_count == 1
    assert retry_v is not None
    assert retry_v.next_run_at == retry_at
    # And dead-lettering fails the job with no next run
    assert dead_v is not None
    assert dead_v.status == "failed"
    assert dead_v.next_run_at is None


def test_quedup_pause_and_resume() -> None:
    # Given an every-minute cron paused at 14:05:40
    paused_at = T0 + 10 * S
    resumed_at = datetime(2026, 4, 10, 14, 30, 5, tzinfo=UTC)
    first, after_resume = datetime(2026, 4, 10, 14, 6, tzinfo=UTC), datetime(2026, 4, 10, 14, 31, tzinfo=UTC)
    events: list[Event] = [
        created("job_c", schedule="* * * * *", next_run_at=first),
        JobPaused(**env("job_c", paused_at)),
        JobResumed(**env("job_c", resumed_at)),
        JobScheduled(**env("job_c", resumed_at, 1), next_run_at=after_resume, reason="resumed", cause_event_id="e"),
    ]

    # When it is paused then resumed long after its next occurrence, and the timer re-arms it
    _, paused_v, resumed_v, told_v = fold(events)

    # Then it shows paused, then active again; the next run is the timer's word, the missed occurrences skipped
    assert paused_v is not None
    assert (paused_v.status, paused_v.paused, paused_v.updated_at) == ("paused", True, paused_at)
    assert resumed_v is not None
    assert (resumed_v.status, resumed_v.paused) == ("active", False)
    assert told_v is not None
    assert told_v.next_run_at == after_resume and told_v.updated_at == resumed_at


def test_update_replaces_the_definition_and_keeps_a_pause() -> None:
    # Given a paused one-off job
    midnight = datetime(2026, 4, 11, 0, 0, tzinfo=UTC)
    update = JobUpdated(
        **env("job_a", T0 + 5 * S), name="Renamed", request=REQUEST, schedule="0 0 * * *", next_run_at=midnight
    )
    _, _, view = fold([created(), JobPaused(**env("job_a", T0 + S)), update])

    # Then the new name and schedule apply, next_run_at follows the schedule, and it stays paused
    assert view is not None
    assert (view.name, view.schedule, view.status, view.paused) == ("Renamed", "0 0 * * *", "paused", True)
    assert view.next_run_at == datetime(2026, 4, 11, 0, 0, tzinfo=UTC)


def test_delete_removes_the_view() -> None:
    # Given an existing job
    # When it is deleted
    _, after = fold([created(), JobDeleted(**env("job_a", T0 + S))])
    # Then there is no view
    assert after is None


def test_events_for_an_unknown_job_give_no_view() -> None:
    # Given no view, any event other than a creation leaves none
    d = due("job_zz", T0)
    for event in (
        d,
        succeeded(d, T0 + S),
        failed(d, T0 + S),
        JobPaused(**env("job_zz", T0)),
        JobResumed(**env("job_zz", T0)),
        JobDeleted(**env("job_zz", T0)),
        JobUpdated(**env("job_zz", T0), name="n", request=REQUEST),
        JobRetryScheduled(**env("job_zz", T0), failed_run_id="r", next_attempt=2, retry_at=T0),
        JobDeadLettered(**env("job_zz", T0), failed_run_id="r", attempts=1, final_status="failed_no_retries"),
    ):
        assert evolve(None, event) is None


# -- Recuro ----------------------------------------------------------------------------------------------------
def test_recuro_job_goes_pending_processing_completed_success() -> None:
    # Given a Recuro job pushed with a 300 s delay
    d = due("rj_847", T0 + 300 * S)

    # When it is handed out and succeeds
    pushed_v, due_v, done_v = fold([pushed(), d, succeeded(d, T0 + 301 * S)])

    # Then it is pending (scheduled 300 s out), processing, then completed with final_status success
    assert pushed_v is not None
    assert (pushed_v.status, pushed_v.final_status) == ("pending", None)
    assert pushed_v.scheduled_at == pushed_v.next_run_at == T0 + 300 * S
    assert (pushed_v.queue, pushed_v.queue_id, pushed_v.integer_id, pushed_v.delay_seconds) == ("emails", 12, 847, 300)
    assert pushed_v.payload == {"a": 1}
    assert due_v is not None
    assert due_v.status == "processing"
    assert done_v is not None
    assert (done_v.status, done_v.final_status) == ("completed", "success")
    assert done_v.last_run_at == T0 + 301 * S


def test_recuro_failure_with_a_retry_is_failed_and_retrying() -> None:
    # Given a Recuro job whose first attempt fails and gets a retry job
    d = due("rj_847", T0 + 300 * S)
    retry = JobRetryScheduled(
        **env("rj_847", T0 + 301 * S),
        failed_run_id=d.run_id, next_attempt=2, retry_at=T0 + 361 * S, retry_job_id="rj_900",
    )  # fmt: skip

    # When the events fold
    _, _, failed_v, retrying_v = fold([pushed(), d, failed(d, T0 + 301 * S), retry])

    # Then the job is failed, then marked retrying with a pending retry pointing at the new job
    assert failed_v is not None
    assert (failed_v.status, failed_v.final_status) == ("failed", None)
    assert retrying_v is not None
    assert (retrying_v.status, retrying_v.final_status) == ("failed", "retrying")
    assert retrying_v.has_pending_retry
    assert retrying_v.retry_job_id == "rj_900"


def test_recuro_retry_job_is_linked_and_a_failing_retry_is_failed_with_retries() -> None:
    # Given the second attempt, pushed as a new job linked to the original
    d = due("rj_900", T0 + 300 * S, attempt=2)
    retry = JobRetryScheduled(
        **env("rj_900", T0 + 301 * S),
        failed_run_id=d.run_id, next_attempt=3, retry_at=T0 + 2101 * S, retry_job_id="rj_901",
    )  # fmt: skip

    # When it fails too and a third attempt is scheduled
    pushed_v, *_, view = fold(
        [pushed("rj_900", attempt_number=2, retry_of="rj_847"), d, failed(d, T0 + 301 * S), retry]
    )

    # Then the retry job carries its attempt number and link, and ends failed_with_retries
    assert pushed_v is not None
    assert (pushed_v.attempt_number, pushed_v.retry_of) == (2, "rj_847")
    assert view is not None
    assert view.final_status == "failed_with_retries"
    assert view.retry_job_id == "rj_901"


def test_recuro_dead_lettered_and_failed_no_retries() -> None:
    # Given two failing Recuro jobs, one whose retries ran out and one whose queue has none
    d = due("rj_847", T0 + 300 * S)
    at = T0 + 301 * S
    exhausted = JobDeadLettered(**env("rj_847", at), failed_run_id=d.run_id, attempts=4, final_status="dead_lettered")
    no_retries = JobDeadLettered(
        **env("rj_847", at), failed_run_id=d.run_id, attempts=1, final_status="failed_no_retries"
    )

    # When each is dead-lettered
    *_, dead_v = fold([pushed(), d, failed(d, at), exhausted])
    *_, none_v = fold([pushed(), d, failed(d, at), no_retries])

    # Then the first is dead_lettered (with the time) and the second failed_no_retries; both stay failed
    assert dead_v is not None
    assert (dead_v.status, dead_v.final_status, dead_v.dead_lettered_at) == ("failed", "dead_lettered", at)
    assert none_v is not None
    assert (none_v.status, none_v.final_status) == ("failed", "failed_no_retries")


# -- Recuro retry chains: the original carries the chain's outcome (decision 0016) --------------------------------
def retry_scheduled(job_id: str, d: JobDue, at: datetime, retry_job_id: str, next_attempt: int) -> JobRetryScheduled:
    return JobRetryScheduled(
        **env(job_id, at, 20), failed_run_id=d.run_id, next_attempt=next_attempt, retry_at=at + S,
        retry_job_id=retry_job_id,
    )  # fmt: skip


def original_states(outcome_events: list[Event]) -> list[tuple[object, ...]]:
    """(status, final_status, has_pending_retry, dead_lettered_at) of the original after each event."""
    d = due("rj_847", T0 + 300 * S)
    at = T0 + 301 * S
    events: list[Event] = [pushed(), d, failed(d, at), retry_scheduled("rj_847", d, at, "rj_900", 2), *outcome_events]
    return [(v.status, v.final_status, v.has_pending_retry, v.dead_lettered_at) for v in fold(events) if v is not None]


def test_the_original_reads_retrying_then_success_when_a_retry_succeeds() -> None:
    # Given an original whose first attempt failed and whose retry (job rj_901, attempt 3) then succeeded
    at = T0 + 900 * S
    resolved = JobRetryChainResolved(**env("rj_847", at, 30), resolution="success", run_id="rj_901:1:3", attempts=3)

    # When the chain's events on the original fold
    states = original_states([resolved])

    # Then it goes pending, processing, failed, retrying with a pending retry, and ends success with none pending
    assert states == [
        ("pending", None, False, None),
        ("processing", None, False, None),
        ("failed", None, False, None),
        ("failed", "retrying", True, None),
        ("failed", "success", False, None),
    ]


def test_the_original_reads_dead_lettered_with_the_time_when_the_retries_run_out() -> None:
    # Given an original whose chain ran out (the last retry's failure is announced on the original)
    at = T0 + 5000 * S
    dead = JobDeadLettered(
        **env("rj_847", at, 31), failed_run_id="rj_902:1:4", attempts=4, final_status="dead_lettered"
    )

    # When it folds
    *_, last = original_states([dead])

    # Then the original reads dead_lettered, at that time, with no retry pending
    assert last == ("failed", "dead_lettered", False, at)


def test_retries_off_reads_failed_no_retries_without_a_dead_letter_time() -> None:
    # Given an original whose queue has retries off
    d = due("rj_847", T0 + 300 * S)
    at = T0 + 301 * S
    off = JobDeadLettered(**env("rj_847", at, 32), failed_run_id=d.run_id, attempts=1, final_status="failed_no_retries")

    # When its only attempt fails
    *_, view = fold([pushed(), d, failed(d, at), off])

    # Then it reads failed_no_retries, is no dead letter and has nothing pending
    assert view is not None
    assert (view.final_status, view.dead_lettered_at, view.has_pending_retry) == ("failed_no_retries", None, False)


def test_a_retry_job_reads_failed_with_retries_or_success_and_never_carries_the_chain() -> None:
    # Given two retry jobs of rj_847: one fails (a further retry follows), one succeeds
    d2 = due("rj_900", T0 + 300 * S, attempt=2)
    d3 = due("rj_901", T0 + 400 * S, attempt=3)
    at = T0 + 301 * S

    # When they fold
    _, _, failed_v, rescheduled_v = fold(
        [pushed("rj_900", 2, "rj_847"), d2, failed(d2, at), retry_scheduled("rj_900", d2, at, "rj_901", 3)]
    )
    *_, ok_v = fold([pushed("rj_901", 3, "rj_847"), d3, succeeded(d3, T0 + 401 * S)])

    # Then the failed retry is failed_with_retries at once, links forward, and has no pending retry of its own
    assert failed_v is not None and rescheduled_v is not None
    assert failed_v.final_status == "failed_with_retries"
    assert (rescheduled_v.final_status, rescheduled_v.retry_job_id) == ("failed_with_retries", "rj_901")
    assert not rescheduled_v.has_pending_retry
    # And the succeeding retry reads success, linked to the original
    assert ok_v is not None
    assert (ok_v.final_status, ok_v.retry_of, ok_v.attempt_number) == ("success", "rj_847", 3)


def test_a_superseded_chain_changes_nothing_a_reader_sees() -> None:
    # Given a QuedUp cron
    view = evolve(None, created(schedule="* * * * *"))
    assert view is not None
    # When an occurrence's retries are superseded by the next occurrence
    superseded = JobRetryChainResolved(
        **env("job_a", T0 + 60 * S, 33), resolution="superseded", run_id="job_a:1:1", attempts=2
    )
    # Then the view is unchanged
    assert evolve(view, superseded) == view


def test_run_view_records_what_happened() -> None:
    # Given a failed run
    d = due("rj_847", T0)
    event = failed(d, T0 + 2 * S)
    # When it becomes a run row
    run = run_view(event)
    # Then it carries the attempt, times, status, reason and message
    assert (run.run_id, run.job_id, run.attempt, run.success) == (d.run_id, "rj_847", 1, False)
    assert (run.started_at, run.executed_at, run.duration_ms) == (T0, T0 + 2 * S, 2000.0)
    assert (run.response_status, run.failure_reason, run.error_message) == (503, "http_server_error", "HTTP 503")
    ok = run_view(succeeded(d, T0 + S))
    assert ok.success
    assert ok.failure_reason is None
    assert ok.error_message is None


# -- callbacks -------------------------------------------------------------------------------------------------
def test_callback_events_show_where_the_latest_callback_stands_without_touching_the_job() -> None:
    # Given a Recuro job that ran
    d = due("rj_847", T0 + 300 * S)
    ran = fold([pushed(), d, succeeded(d, T0 + 301 * S)])[-1]
    assert ran is not None and ran.callback_status is None
    cb = {"callback_id": f"cb:{d.run_id}"}
    at = T0 + 302 * S
    # When its callback fails once, is retried and delivered
    events: list[Event] = [
        CallbackDue(**env("rj_847", at, 20), **cb, run_id=d.run_id, url="https://x/cb", body="{}", due_at=at),
        CallbackFailed(
            **env("rj_847", at, 21), **cb, attempt=1, started_at=at, duration_ms=1.0, response_status=500,
            failure_reason="http_server_error",
        ),
        CallbackRetryScheduled(**env("rj_847", at, 22), **cb, next_attempt=2, retry_at=at + 5 * S),
        CallbackDue(
            **env("rj_847", at, 23), **cb, run_id=d.run_id, url="https://x/cb", body="{}", attempt=2, due_at=at
        ),
        CallbackSucceeded(
            **env("rj_847", at, 24), **cb, attempt=2, started_at=at, duration_ms=1.0, response_status=200
        ),
    ]  # fmt: skip
    views = []
    view: JobView | None = ran
    for event in events:
        view = evolve(view, event)
        assert view is not None
        views.append((view.callback_status, view.callback_attempts))
    # Then the view follows it, and the job itself did not change
    assert views == [("pending", 0), ("pending", 1), ("retrying", 1), ("retrying", 1), ("delivered", 2)]
    assert view is not None and view.updated_at == ran.updated_at and view.status == "completed"
    # And an abandoned callback says so
    gone = evolve(view, CallbackAbandoned(**env("rj_847", at, 25), **cb, attempts=6))
    assert gone is not None and (gone.callback_status, gone.callback_attempts) == ("abandoned", 6)


def test_occurrences_missed_moves_the_next_run_to_the_timers_word() -> None:
    # Given a scheduled job whose timer was down, and then skipped what it missed
    first, later = datetime(2026, 4, 10, 14, 6, tzinfo=UTC), datetime(2026, 4, 10, 15, 1, tzinfo=UTC)
    missed = OccurrencesMissed(
        **env("job_c", later - 30 * S), missed_from=first, missed_to=later - 60 * S, count=55, policy="skip",
        fired=None, next_run_at=later,
    )  # fmt: skip
    # When it folds, Then the next run is the one the timer named, and the job is otherwise unchanged
    created_v, after = fold([created("job_c", schedule="* * * * *", next_run_at=first), missed])
    assert after is not None and created_v is not None
    assert after.next_run_at == later
    assert after.model_copy(update={"next_run_at": first}) == created_v
