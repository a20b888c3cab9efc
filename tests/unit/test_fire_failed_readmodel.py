"""What the read model shows of decision 0028's events: a job the timer could not fire reads ``failed`` with its
error, in its GET and its history; a redefinition clears it; a cancelled attempt is in the history under its run; a
budget's delay is on the JobDue in the history and on the run."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from chronohook.readmodel.history import history_page
from chronohook.readmodel.runs import runs_page
from chronohook.readmodel.views import evolve
from schemas.events import JobFireFailed, JobRunCancelled, JobSucceeded, JobUpdated, RunOutcome
from tests.unit.test_history import REQUEST, T0, Log, created, due, engine, env, log

__all__ = ["engine", "log"]  # the fixtures, from tests/unit/test_history.py


def fire_failed(job_id: str, n: int, key: str | None = None) -> JobFireFailed:
    return JobFireFailed(**env(job_id, n), entry_key=key or job_id, error="UnreadableEntry: not an entry")


def test_a_job_the_timer_could_not_fire_reads_failed_with_its_error(log: Log, engine: Engine) -> None:
    # Given a scheduled job
    log.append(created("job_a", 0))
    # When the timer records that it could not fire it
    log.append(fire_failed("job_a", 1))
    # Then its GET reads failed, with no next run, and the error
    view = log.store.job("t1", "job_a")
    assert view is not None and (view.status, view.next_run_at, view.last_error) == (
        "failed", None, "UnreadableEntry: not an entry",
    )  # fmt: skip
    # And its history has the event
    page = history_page(engine, "t1", "quedup", "job_a", 10, 0)
    assert [e.type for e in page.entries] == ["JobCreated", "JobFireFailed"]
    assert page.entries[1].payload["error"] == "UnreadableEntry: not an entry"


def test_a_redefinition_clears_the_error() -> None:
    # Given a job that failed to fire
    view = evolve(evolve(None, created("job_a", 0)), fire_failed("job_a", 1))
    assert view is not None and view.last_error is not None
    # When it is redefined (the timer arms it afresh)
    update = JobUpdated(**env("job_a", 2), name="Backup", request=REQUEST, run_at=T0 + timedelta(hours=1))
    after = evolve(view, update)
    # Then it is active again, without the error
    assert after is not None and (after.status, after.last_error) == ("active", None)


def test_a_callbacks_entry_that_could_not_fire_leaves_the_job_running() -> None:
    # Given a job whose completion callback's entry could not be fired
    view = evolve(None, created("job_a", 0))
    after = evolve(view, fire_failed("job_a", 1, key="cb:job_a:1000:1"))
    # Then the job keeps its status; the error is shown
    assert view is not None and after is not None
    assert after.status == view.status and after.last_error == "UnreadableEntry: not an entry"


def test_a_cancelled_attempt_is_in_the_history_under_its_run(log: Log, engine: Engine) -> None:
    # Given a job handed out, then its attempt held back by the executor
    d = due("job_a", 1)
    log.append(created("job_a", 0), d)
    log.append(JobRunCancelled(**env("job_a", 2), run_id=d.run_id, reason="paused"))
    # Then its history shows the cancellation, under the run it cancelled
    page = history_page(engine, "t1", "quedup", "job_a", 10, 0)
    assert [(e.type, e.run_id) for e in page.entries][-1] == ("JobRunCancelled", d.run_id)


def test_a_budgets_delay_is_on_the_jobdue_and_the_run(log: Log, engine: Engine) -> None:
    # Given a job whose attempt the budget delayed by 2.5 s, and its result
    planned = T0 + timedelta(seconds=1)
    d = due("job_a", 1).model_copy(
        update={"due_at": planned + timedelta(milliseconds=2500), "planned_at": planned, "delayed_by_ms": 2500}
    )
    outcome = RunOutcome(
        run_id=d.run_id, attempt=1, due_at=d.due_at, started_at=d.due_at, finished_at=d.due_at, duration_ms=3.0,
        request_headers={}, request_body=None, response_status=200, planned_at=d.planned_at,
    )  # fmt: skip
    log.append(created("job_a", 0), d, JobSucceeded(**env("job_a", 3), outcome=outcome))
    # Then the history's JobDue says so
    page = history_page(engine, "t1", "quedup", "job_a", 10, 0)
    [jobdue] = [e for e in page.entries if e.type == "JobDue"]
    assert jobdue.payload["delayed_by_ms"] == 2500
    # And so does its run
    [run] = runs_page(engine, "t1", ["job_a"], 10, 0).runs
    assert (run.planned_at, run.delayed_by_ms) == (planned, 2500)
