"""Recuro queue settings in the timer, pure: applied to a due job, holding a paused queue's jobs, defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.changelog import TimerEntry
from schemas.events import HttpRequestSpec, JobDue, QueueSettings, QueueSettingsChanged, RetryPolicy, SuccessAssertion
from schemas.topics import queue_settings_key
from services.timer.domain import fire_entry
from services.timer.queues import DEFAULT_SETTINGS, QueueBook, held, wake_at

NOW = datetime(2026, 4, 10, 14, 5, 0, tzinfo=UTC)
REQUEST = HttpRequestSpec(method="POST", url="https://example.com/a", timeout_seconds=30.0)


def recuro_job(job_id: str = "rj_1", queue: str = "emails", due: datetime = NOW, tenant: str = "t1") -> TimerEntry:
    return TimerEntry(
        job_id=job_id,
        tenant=tenant,
        api="recuro",
        request=REQUEST,
        retry=RetryPolicy(delays=(60, 1800, 10800)),
        next_due=due,
        integer_id=1,
        queue=queue,
        queue_id=77,
    )


def change(settings: QueueSettings, queue: str = "emails", tenant: str = "t1") -> QueueSettingsChanged:
    return QueueSettingsChanged(
        event_id="e",
        job_id=queue_settings_key(tenant, 77),
        tenant=tenant,
        occurred_at=NOW,
        queue=queue,
        queue_id=77,
        settings=settings,
    )


def test_an_unknown_queue_has_recuros_defaults() -> None:
    # Given an empty book
    book = QueueBook()

    # When a queue never configured is looked up
    settings = book.settings_for("t1", "emails")

    # Then it has Recuro's defaults
    assert settings == DEFAULT_SETTINGS
    assert (settings.is_active, settings.timeout_seconds, settings.retries_enabled) == (True, 30, True)
    assert settings.retry_delays == (60, 1800, 10800) and settings.max_parallelism is None
    assert settings.dlq_retention_days == 14


def test_a_due_job_takes_its_queues_settings_in_force_when_it_fires() -> None:
    # Given a queue configured with a 5 s timeout, an assertion and a parallelism bound
    book = QueueBook()
    assertion = SuccessAssertion(type="body_contains", value="ok")
    book.apply(change(QueueSettings(timeout_seconds=5, success_assertions=(assertion,), max_parallelism=2)))

    # When its job fires
    entry, emitted = fire_entry(recuro_job(), NOW, queues=book.settings_for)

    # Then the JobDue carries the queue's timeout and assertions, the queue and its bound
    (due,) = emitted
    assert isinstance(due, JobDue)
    assert due.request.timeout_seconds == 5.0
    assert due.request.assertions == (assertion,)
    assert (due.queue, due.queue_id, due.max_parallelism) == ("emails", 77, 2)
    assert due.request.url == REQUEST.url
    assert isinstance(entry, TimerEntry) and entry.next_due is None


def test_a_later_change_applies_to_jobs_not_yet_fired() -> None:
    # Given a job armed under the defaults, then the queue's timeout changed before it fires
    book = QueueBook()
    job = recuro_job(due=NOW + timedelta(seconds=10))
    book.apply(change(QueueSettings(timeout_seconds=1)))

    # When it fires
    _, (due,) = fire_entry(job, NOW + timedelta(seconds=10), queues=book.settings_for)

    # Then it runs with the settings in force now
    assert isinstance(due, JobDue) and due.request.timeout_seconds == 1.0


def test_without_settings_a_job_fires_with_the_defaults() -> None:
    # When a job of a queue never configured fires
    _, (due,) = fire_entry(recuro_job(), NOW)

    # Then the defaults apply: 30 s, no assertions, no bound
    assert isinstance(due, JobDue)
    assert (due.request.timeout_seconds, due.request.assertions, due.max_parallelism) == (30.0, (), None)
    assert due.queue == "emails"


def test_a_paused_queue_holds_its_jobs_and_releases_them_on_resume() -> None:
    # Given a paused queue and its overdue job
    book = QueueBook()
    book.apply(change(QueueSettings(is_active=False)))
    job = recuro_job(due=NOW - timedelta(seconds=5))

    # When the timer looks at it
    kept, emitted = fire_entry(job, NOW, queues=book.settings_for)

    # Then nothing fires, the entry is kept as it was, and it is not armed
    assert emitted == [] and kept == job
    assert held(job, book.settings_for) and wake_at(job, book.settings_for) is None

    # When the queue resumes
    resumed = book.apply(change(QueueSettings(is_active=True)))

    # Then the book says so, the job is armed at its (past) due time and fires at once
    assert resumed is True
    assert wake_at(job, book.settings_for) == NOW - timedelta(seconds=5)
    _, (due,) = fire_entry(job, NOW, queues=book.settings_for)
    assert isinstance(due, JobDue) and due.due_at == NOW - timedelta(seconds=5)


def test_only_a_resume_of_a_paused_queue_releases() -> None:
    # Given an active queue
    book = QueueBook()

    # When its settings change without a pause, then it is paused
    # Then neither change is a release
    assert book.apply(change(QueueSettings(timeout_seconds=9))) is False
    assert book.apply(change(QueueSettings(is_active=False))) is False


def test_holding_is_per_tenant_and_queue_and_never_for_other_jobs() -> None:
    # Given t1's queue "emails" paused
    book = QueueBook()
    book.apply(change(QueueSettings(is_active=False)))

    # Then another queue, the same name at another tenant, and a cron are not held
    assert held(recuro_job(), book.settings_for)
    assert not held(recuro_job(queue="sms"), book.settings_for)
    assert not held(recuro_job(tenant="t2"), book.settings_for)
    cron = recuro_job().model_copy(update={"api": "recuro_cron", "queue": None, "schedule": "* * * * *"})
    assert not held(cron, book.settings_for)


def test_holding_is_rederived_after_a_restart() -> None:
    # Given a job restored from the changelog (nothing about holding in its entry) and the settings read again
    restored = TimerEntry.model_validate_json(recuro_job().model_dump_json())
    book = QueueBook()
    book.apply(change(QueueSettings(is_active=False)))

    # Then it is held, as it was before the restart
    assert held(restored, book.settings_for)
    assert fire_entry(restored, NOW, queues=book.settings_for)[1] == []
