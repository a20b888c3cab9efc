"""One contract for the read-model store, run against SQLite (the default) and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from chronohook.readmodel.store import Consumed, ReadModelStore
from chronohook.store.engine import ping
from chronohook.store.tables import queues
from chronohook.store.tokens import create_token, tenant_for_token
from schemas.events import HttpRequestSpec, JobDeleted, JobDue, JobPushed, JobSucceeded, RunOutcome
from services.ingest import names

T0 = datetime(2026, 1, 1, tzinfo=UTC)
REQUEST = HttpRequestSpec(method="POST", url="http://127.0.0.1:9/x", body='{"a":1}')


def _pushed(job: int, tenant: str = "t1", at: datetime = T0) -> JobPushed:
    return JobPushed(
        event_id=f"e{job}",
        job_id=f"rj_{job}",
        tenant=tenant,
        occurred_at=at,
        integer_id=job,
        queue="q",
        queue_id=7,
        request=REQUEST,
        scheduled_at=at,
        callback_url="http://127.0.0.1:9/cb",
    )


def _due(job: int) -> JobDue:
    return JobDue(
        event_id=f"d{job}",
        job_id=f"rj_{job}",
        tenant="t1",
        occurred_at=T0,
        run_id=f"rj_{job}:0:1",
        due_at=T0,
        request=REQUEST,
        callback_url="http://127.0.0.1:9/cb",
    )


def _succeeded(job: int) -> JobSucceeded:
    outcome = RunOutcome(
        run_id=f"rj_{job}:0:1",
        attempt=1,
        due_at=T0,
        started_at=T0,
        finished_at=T0 + timedelta(milliseconds=5),
        duration_ms=5.0,
        request_headers={},
        request_body='{"a":1}',
        response_status=200,
        response_body="ok",
        callback_url="http://127.0.0.1:9/cb",
    )
    return JobSucceeded(event_id=f"s{job}", job_id=f"rj_{job}", tenant="t1", occurred_at=T0, outcome=outcome)


def _batch(*events: object, start: int = 0) -> list[Consumed]:
    return [Consumed("log", 0, start + i, e) for i, e in enumerate(events)]  # type: ignore[arg-type]


def test_a_batch_and_its_offsets_commit_together(engine: Engine) -> None:
    # Given a store
    store = ReadModelStore(engine)
    ping(engine)
    # When a job's push, due and success are applied in one batch
    store.apply("p", _batch(_pushed(1), _due(1), _succeeded(1)), T0)
    # Then the view is completed, its run recorded and the next offset stored (and nothing sent: callbacks are the
    # executor's)
    view = store.job("t1", "rj_1")
    assert view is not None
    assert (view.status, view.final_status) == ("completed", "success")
    assert [r.run_id for r in store.runs("rj_1")] == ["rj_1:0:1"]
    assert store.offsets("p") == {("log", 0): 3}


def test_reapplying_consumed_offsets_changes_nothing(engine: Engine) -> None:
    # Given a batch already applied
    store = ReadModelStore(engine)
    batch = _batch(_pushed(2), _due(2), _succeeded(2))
    store.apply("p", batch, T0)
    # When the same records come again (a consumer restarted before it knew they were applied)
    store.apply("p", batch, T0)
    # Then no run is doubled, and the offset stays
    assert len(store.runs("rj_2")) == 1
    assert store.offsets("p") == {("log", 0): 3}


def test_tenants_are_isolated_and_deletes_remove_history(engine: Engine) -> None:
    # Given jobs of two tenants
    store = ReadModelStore(engine)
    store.apply("p", _batch(_pushed(3, "t1"), _pushed(4, "t2"), _due(3), _succeeded(3)), T0)
    # Then each tenant sees only its own
    assert store.job("t2", "rj_3") is None
    assert store.job("t2", "rj_4") is not None
    assert [v.job_id for v in store.jobs("t1", "recuro", 10, 0)] == ["rj_3"]
    # When a job is deleted
    store.apply("p", _batch(JobDeleted(event_id="x", job_id="rj_3", tenant="t1", occurred_at=T0), start=4), T0)
    # Then it and its runs are gone
    assert store.job("t1", "rj_3") is None
    assert store.runs("rj_3") == []


def test_tokens_resolve_to_their_tenant_only_by_the_exact_token(engine: Engine) -> None:
    token = create_token(engine, "acme")
    assert tenant_for_token(engine, token) == "acme"
    assert tenant_for_token(engine, token + "x") is None


def test_a_name_is_held_once_per_tenant(engine: Engine) -> None:
    # Given a name reserved by one job
    assert names.reserve(engine, "t1", "backup", "job_a")
    # Then another job of the same tenant cannot take it, another tenant can
    assert not names.reserve(engine, "t1", "backup", "job_b")
    assert names.reserve(engine, "t2", "backup", "job_c")
    # When it is released, it is free again
    names.release(engine, "t1", "backup", "job_a")
    assert names.reserve(engine, "t1", "backup", "job_b")


def test_a_queue_is_created_once_however_many_jobs_push_to_it(engine: Engine) -> None:
    # Given two pushes to the same queue, applied by two projectors of different partitions
    store = ReadModelStore(engine)
    store.apply("p", [Consumed("log", 0, 0, _pushed(5))], T0)
    store.apply("p", [Consumed("log", 1, 0, _pushed(6))], T0)
    # Then both jobs are there and the queue exists once
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(queues)).scalar_one() == 1
    assert store.job("t1", "rj_5") is not None
    assert store.job("t1", "rj_6") is not None
