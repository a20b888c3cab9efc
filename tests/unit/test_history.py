"""A job's history (chronohook/readmodel/history.py): folded by ReadModelStore.apply beside the views, read a page at
a time. In-memory SQLite, events applied as the projector would (one partition, offsets in order)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.pool import StaticPool

from chronohook.readmodel.history import HistoryPage, history_page, run_id_of
from chronohook.readmodel.store import Consumed, ReadModelStore
from chronohook.readmodel.views import TenantMismatch
from chronohook.store.engine import create_schema
from chronohook.store.tables import job_events
from schemas.events import (
    Alert,
    AlertDelivered,
    AlertRaised,
    CallbackDue,
    CallbackSucceeded,
    Envelope,
    HttpRequestSpec,
    JobCreated,
    JobDeleted,
    JobDue,
    JobFailed,
    JobPurged,
    JobPushed,
    JobRetryScheduled,
    JobSucceeded,
    RunOutcome,
)

T0 = datetime(2026, 4, 10, 14, 5, 0, 120_000, tzinfo=UTC)
S = timedelta(seconds=1)
REQUEST = HttpRequestSpec(method="POST", url="https://example.com/hook", body='{"a":1}')
TOPIC = "chronohook.job-events"


class Log:
    """A one-partition log folded into a store: ``append`` applies the new events, at the next offsets."""

    def __init__(self, store: ReadModelStore) -> None:
        self.store = store
        self.events: list[Envelope] = []

    def append(self, *events: Envelope) -> None:
        start = len(self.events)
        self.events.extend(events)
        batch = [Consumed(TOPIC, 0, start + i, e) for i, e in enumerate(events)]  # type: ignore[arg-type]
        self.store.apply("projector", batch, T0)

    def replay_all(self) -> None:
        """Everything again from offset 0, as a projector would after losing its offsets."""
        batch = [Consumed(TOPIC, 0, i, e) for i, e in enumerate(self.events)]  # type: ignore[arg-type]
        with self.store.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM consumer_offsets")
        self.store.forget_cached()
        self.store.apply("projector", batch, T0)


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    create_schema(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def log(engine: Engine) -> Log:
    return Log(ReadModelStore(engine))


def env(job_id: str, n: int, tenant: str = "t1") -> dict[str, object]:
    return {"event_id": f"evt_{job_id}_{n}", "job_id": job_id, "tenant": tenant, "occurred_at": T0 + n * S}


def pushed(job_id: str = "rj_847", n: int = 0, tenant: str = "t1") -> JobPushed:
    return JobPushed(
        **env(job_id, n, tenant),
        integer_id=int(job_id.removeprefix("rj_")), queue="emails", queue_id=12, request=REQUEST,
        payload={"a": 1}, scheduled_at=T0, delay_seconds=0,
    )  # fmt: skip


def created(job_id: str = "job_a", n: int = 0) -> JobCreated:
    return JobCreated(**env(job_id, n), api="quedup", name="Backup", request=REQUEST)


def due(job_id: str, n: int) -> JobDue:
    return JobDue(**env(job_id, n), run_id=f"{job_id}:{n}:1", due_at=T0 + n * S, request=REQUEST)


def result(d: JobDue, n: int, ok: bool = True) -> JobSucceeded | JobFailed:
    outcome = RunOutcome(
        run_id=d.run_id, attempt=d.attempt, due_at=d.due_at, started_at=d.due_at, finished_at=d.due_at + S / 10,
        duration_ms=100.0, request_headers={}, request_body=d.request.body, response_status=200 if ok else 500,
    )  # fmt: skip
    if ok:
        return JobSucceeded(**env(d.job_id, n), outcome=outcome)
    return JobFailed(**env(d.job_id, n), outcome=outcome, failure_reason="http_server_error", error_message="HTTP 500")


def read(engine: Engine, job_id: str, tenant: str = "t1", api: str = "recuro", limit: int = 100) -> HistoryPage:
    return history_page(engine, tenant, api, job_id, limit, 0)


def types(page: HistoryPage) -> list[str]:
    return [e.type for e in page.entries]


def test_a_delivered_jobs_history_lists_push_due_and_success_in_log_order(engine: Engine, log: Log) -> None:
    # Given a Recuro job pushed, handed out and delivered
    d = due("rj_847", 1)
    log.append(pushed(), d)
    log.append(result(d, 2))

    # When its history is read
    page = read(engine, "rj_847")

    # Then it lists the three events in log order, each with its time, run, schema version and payload
    assert types(page) == ["JobPushed", "JobDue", "JobSucceeded"] and page.total == 3
    push, handed, done = page.entries
    assert [e.occurred_at for e in page.entries] == [T0, T0 + S, T0 + 2 * S]
    assert (push.run_id, handed.run_id, done.run_id) == (None, "rj_847:1:1", "rj_847:1:1")
    assert {e.schema_version for e in page.entries} == {1}
    assert push.payload["queue"] == "emails" and push.payload["payload"] == {"a": 1}
    assert done.payload["outcome"]["response_status"] == 200
    # And the payload is the event's own fields: the envelope's are columns
    assert not {"event_id", "job_id", "tenant", "occurred_at", "type"} & set(push.payload)


def test_a_deleted_jobs_history_is_kept_and_the_delete_is_its_last_entry(engine: Engine, log: Log) -> None:
    # Given a QuedUp job that ran once, then was deleted
    d = due("job_a", 1)
    log.append(created(), d, result(d, 2))
    log.append(JobDeleted(**env("job_a", 3)))
    assert log.store.job("t1", "job_a") is None

    # When a result that was in flight arrives after the delete
    log.append(result(due("job_a", 4), 5))

    # Then the history is still there, the delete its last entry (the late result is no one's history)
    page = read(engine, "job_a", api="quedup")
    assert types(page) == ["JobCreated", "JobDue", "JobSucceeded", "JobDeleted"]


def test_a_purged_dead_letter_keeps_its_history_with_the_purge_last(engine: Engine, log: Log) -> None:
    # Given a Recuro job that failed, then was purged (a dead letter deleted)
    d = due("rj_847", 1)
    log.append(pushed(), d, result(d, 2, ok=False))
    log.append(JobPurged(**env("rj_847", 3), reason="deleted"))

    # Then its history ends with the purge
    assert types(read(engine, "rj_847")) == ["JobPushed", "JobDue", "JobFailed", "JobPurged"]


def test_applying_the_log_again_or_a_re_emitted_event_adds_no_entry(engine: Engine, log: Log) -> None:
    # Given a job's three events applied once
    d = due("rj_847", 1)
    log.append(pushed(), d, result(d, 2))

    # When the whole log is applied again, and the same JobDue is emitted again at a later offset
    log.replay_all()
    log.append(d)

    # Then each event is one entry
    assert types(read(engine, "rj_847")) == ["JobPushed", "JobDue", "JobSucceeded"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(job_events)).scalar_one() == 3


def test_the_same_creation_again_is_one_entry(engine: Engine, log: Log) -> None:
    # Given a push, and the same push again under another event id (an Idempotency-Key taken over, decision 0019)
    first = pushed()
    log.append(first, first.model_copy(update={"event_id": "evt_again"}))

    # Then the history has one creation
    assert types(read(engine, "rj_847")) == ["JobPushed"]


def test_another_tenants_event_for_a_job_is_refused_and_never_listed(engine: Engine, log: Log) -> None:
    # Given t1's job
    log.append(pushed())

    # When an event naming t2 arrives for it
    with pytest.raises(TenantMismatch):
        log.append(due("rj_847", 1).model_copy(update={"tenant": "t2"}))

    # Then nothing of it was written: t1's history has the push only, t2 has none
    assert types(read(engine, "rj_847")) == ["JobPushed"]
    assert read(engine, "rj_847", tenant="t2").total == 0


def test_reads_are_scoped_to_the_tenant_and_the_api(engine: Engine, log: Log) -> None:
    # Given t1's Recuro job and QuedUp job
    log.append(pushed(), created())

    # Then another tenant, or the other API's route, reads nothing
    assert read(engine, "rj_847", tenant="t2").total == 0
    assert read(engine, "job_a", tenant="t2", api="quedup").total == 0
    assert read(engine, "rj_847", api="quedup").total == 0
    assert read(engine, "job_a", api="recuro").total == 0


def test_a_deleted_id_created_again_by_another_tenant_keeps_the_histories_apart(engine: Engine, log: Log) -> None:
    # Given t1's job, deleted; then a job of t2 under the same id
    log.append(pushed(), JobPurged(**env("rj_847", 1), reason="deleted"))
    log.append(pushed(n=2, tenant="t2"))

    # Then each tenant reads its own events only
    assert types(read(engine, "rj_847")) == ["JobPushed", "JobPurged"]
    assert types(read(engine, "rj_847", tenant="t2")) == ["JobPushed"]


def test_a_retry_is_a_history_of_its_own(engine: Engine, log: Log) -> None:
    # Given a job whose run failed and was retried as job rj_848, which succeeded
    d1 = due("rj_847", 1)
    retry = JobRetryScheduled(
        **env("rj_847", 3), failed_run_id=d1.run_id, next_attempt=2, retry_at=T0 + 9 * S, retry_job_id="rj_848"
    )
    second = pushed("rj_848", 4).model_copy(update={"attempt_number": 2, "retry_of": "rj_847"})
    d2 = due("rj_848", 5)
    log.append(pushed(), d1, result(d1, 2, ok=False), retry, second, d2, result(d2, 6))

    # Then the original lists its own events (naming the retry), the retry its own
    original = read(engine, "rj_847")
    assert types(original) == ["JobPushed", "JobDue", "JobFailed", "JobRetryScheduled"]
    assert original.entries[-1].payload["retry_job_id"] == "rj_848" and original.entries[-1].run_id == d1.run_id
    assert types(read(engine, "rj_848")) == ["JobPushed", "JobDue", "JobSucceeded"]


def test_pages_follow_the_log_without_overlap(engine: Engine, log: Log) -> None:
    # Given a QuedUp job with 1 creation and 6 runs (12 events)
    log.append(created())
    for n in range(1, 13, 2):
        d = due("job_a", n)
        log.append(d, result(d, n + 1))

    # When it is read five at a time
    pages = [history_page(engine, "t1", "quedup", "job_a", 5, offset) for offset in (0, 5, 10, 15)]

    # Then the pages cover the 13 events once, in order, and past the end is empty
    seen = [e.event_id for p in pages for e in p.entries]
    assert seen == [e.event_id for e in log.events] and {p.total for p in pages} == {13}
    assert [len(p.entries) for p in pages] == [5, 5, 3, 0]
    assert history_page(engine, "t1", "quedup", "job_a", 5, 2**70).entries == []


def test_each_event_names_the_run_it_belongs_to() -> None:
    # Given the events of one run's callback and alert
    run = "rc_9:1775829900000:1"
    alert = Alert(kind="failure", job_id="rc_9", consecutive_failures=1, alert_threshold=1, run_id=run, raised_at=T0)
    callback_due = CallbackDue(
        **env("rc_9", 1), callback_id=f"cb:{run}", run_id=run, url="https://e.com/cb", body="{}", due_at=T0
    )
    callback_ok = CallbackSucceeded(
        **env("rc_9", 2), callback_id=f"cb:{run}", attempt=1, started_at=T0, duration_ms=1.0, response_status=200
    )
    raised = AlertRaised(**env("rc_9", 3), alert_id=f"alert:{run}", alert=alert)
    delivered = AlertDelivered(
        **env("rc_9", 4), alert_id=f"alert:{run}", attempt=1, started_at=T0, duration_ms=1.0, response_status=200,
        format="json",
    )  # fmt: skip

    # Then each names the run; an event of no run names none
    assert [run_id_of(e) for e in (callback_due, callback_ok, raised, delivered)] == [run] * 4
    assert run_id_of(created()) is None and run_id_of(JobDeleted(**env("job_a", 1))) is None


def test_times_read_back_in_utc_whatever_offset_they_were_written_in(engine: Engine, log: Log) -> None:
    # Given a push stamped at +02:00
    log.append(pushed().model_copy(update={"occurred_at": T0.astimezone(timezone(timedelta(hours=2)))}))

    # Then it reads back as the same instant, in UTC
    (entry,) = read(engine, "rj_847").entries
    assert entry.occurred_at == T0 and entry.occurred_at.utcoffset() == timedelta(0)
