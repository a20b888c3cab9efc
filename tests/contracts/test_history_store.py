"""A job's history in the read-model store, the same on SQLite and PostgreSQL (each writes it its own way:
chronohook/readmodel/history.py)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from chronohook.readmodel.history import history_page
from chronohook.readmodel.store import Consumed, ReadModelStore
from schemas.events import Envelope, JobDeleted, JobPushed
from tests.contracts.test_read_model_store import T0, _due, _pushed, _succeeded


def _apply(store: ReadModelStore, events: list[Envelope], first_offset: int = 0) -> None:
    batch = [Consumed("job-events", 3, first_offset + i, e) for i, e in enumerate(events)]  # type: ignore[arg-type]
    store.apply("projector", batch, T0)


def test_a_history_is_kept_in_log_order_past_a_delete_and_applied_once(engine: Engine) -> None:
    # Given a job pushed at a time with milliseconds, with text a database might mangle, handed out, delivered, deleted
    store = ReadModelStore(engine)
    at = T0 + timedelta(milliseconds=120)
    push = _pushed(1, at=at).model_copy(update={"payload": {"text": "é \u2028 \U0001f600 \t"}})
    events: list[Envelope] = [push, _due(1), _succeeded(1)]
    _apply(store, events)
    deleted = JobDeleted(event_id="x1", job_id="rj_1", tenant="t1", occurred_at=T0 + timedelta(seconds=1))
    _apply(store, [deleted], first_offset=3)

    # When the same records are applied again (a projector that lost its offsets), then the history is read
    store.forget_cached()
    _apply(store, [*events, deleted])
    page = history_page(engine, "t1", "recuro", "rj_1", 10, 0)

    # Then it lists each event once, in log order, the delete last, times and text as written
    assert [e.type for e in page.entries] == ["JobPushed", "JobDue", "JobSucceeded", "JobDeleted"]
    assert page.total == 4
    assert page.entries[0].occurred_at == at
    assert page.entries[0].payload["payload"] == {"text": "é \u2028 \U0001f600 \t"}
    assert page.entries[1].run_id == page.entries[2].run_id == "rj_1:0:1"
    assert store.job("t1", "rj_1") is None
    # And another tenant reads none of it
    assert history_page(engine, "t2", "recuro", "rj_1", 10, 0).total == 0


def test_a_batch_of_many_jobs_histories_is_written_at_once(engine: Engine) -> None:
    # Given 300 jobs' pushes in one batch
    store = ReadModelStore(engine)
    pushes: list[JobPushed] = [_pushed(n) for n in range(1, 301)]
    _apply(store, list[Envelope](pushes))

    # Then each has its one entry
    assert all(history_page(engine, "t1", "recuro", f"rj_{n}", 10, 0).total == 1 for n in (1, 150, 300))
