"""The projector sets aside what it cannot decode or apply, record by record, and moves on; the database's own
failures (a lost connection) still stop it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy import exc as sa_exc

from chronohook.clock import FixedClock
from chronohook.kafka.records import Record, record_of
from chronohook.readmodel.store import PROJECTOR_CONSUMER, Consumed, ReadModelStore
from chronohook.readmodel.views import TenantMismatch
from chronohook.settings import Settings
from chronohook.store.engine import create_schema, make_engine
from chronohook.store.tables import jobs
from schemas import CodecError
from schemas.events import Envelope, HttpRequestSpec, JobPushed
from services.projector.service import Projector, is_the_records_fault

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TOPIC = "p.job-events"


class Sink:
    """Stands in for DeadRecordSink: keeps what was set aside."""

    def __init__(self) -> None:
        self.aside: list[tuple[Record, BaseException | str]] = []

    def set_aside(self, record: Record, error: BaseException | str, _at: datetime) -> None:
        self.aside.append((record, error))

    def close(self) -> None:
        return None


def pushed(job: int, tenant: str = "t1", queue: str = "q") -> JobPushed:
    return JobPushed(
        event_id=f"e{job}-{tenant}",
        job_id=f"rj_{job}",
        tenant=tenant,
        occurred_at=T0,
        integer_id=job,
        queue=queue,
        queue_id=7,
        request=HttpRequestSpec(method="POST", url="http://127.0.0.2:9/x"),
        scheduled_at=T0,
    )


def as_record(offset: int, event: Envelope | None = None, value: bytes | None = None) -> Record:
    if event is not None:
        key, value, headers = record_of(event)
    else:
        key, headers = b"rj_x", [("type", b"JobPushed")]
    raw = tuple((n, v.encode() if isinstance(v, str) else v) for n, v in headers)
    return Record(TOPIC, 0, offset, key, value, "JobPushed", raw)


def projector_over(store: ReadModelStore, tmp_path: Path) -> tuple[Projector, Sink]:
    sink = Sink()
    projector = Projector(Settings(data_dir=tmp_path), FixedClock(T0), store, threading.Event(), dead=sink)
    return projector, sink


def job_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {row[0] for row in conn.execute(select(jobs.c.job_id))}


def test_an_undecodable_record_is_set_aside_between_the_ones_around_it(engine: Engine, tmp_path: Path) -> None:
    # Given a batch with bad JSON between two good pushes
    store = ReadModelStore(engine)
    projector, sink = projector_over(store, tmp_path)
    records = [as_record(10, pushed(1)), as_record(11, value=b"{not json"), as_record(12, pushed(2))]

    # When it is projected
    projector.project(records)

    # Then both good jobs are stored, the bad record is set aside with the codec's reason, and the offset moved on
    assert job_ids(engine) == {"rj_1", "rj_2"}
    [(record, error)] = sink.aside
    assert record.offset == 11 and isinstance(error, CodecError)
    assert store.offsets(PROJECTOR_CONSUMER) == {(TOPIC, 0): 13}


def test_a_record_set_aside_last_still_moves_the_offset_past_it(engine: Engine, tmp_path: Path) -> None:
    # Given a batch that ends with an unknown event type
    store = ReadModelStore(engine)
    projector, sink = projector_over(store, tmp_path)

    # When it is projected
    projector.project([as_record(3, pushed(1)), as_record(4, value=b'{"type": "JobExploded"}')])

    # Then the next start reads after it
    assert store.offsets(PROJECTOR_CONSUMER) == {(TOPIC, 0): 5}
    assert [r.offset for r, _ in sink.aside] == [4]


def test_another_tenants_event_for_an_existing_job_is_set_aside_alone(engine: Engine, tmp_path: Path) -> None:
    # Given tenant t1's job rj_1, then a batch holding t2's push of the same id between two good pushes
    store = ReadModelStore(engine)
    projector, sink = projector_over(store, tmp_path)
    projector.project([as_record(0, pushed(1))])

    # When the batch is projected
    projector.project([as_record(1, pushed(2)), as_record(2, pushed(1, tenant="t2")), as_record(3, pushed(3))])

    # Then only the mismatching event is set aside; the job stays t1's, and the others are stored
    [(record, error)] = sink.aside
    assert record.offset == 2 and isinstance(error, TenantMismatch)
    assert job_ids(engine) == {"rj_1", "rj_2", "rj_3"}
    view = store.job("t1", "rj_1")
    assert view is not None and view.tenant == "t1"
    assert store.job("t2", "rj_1") is None
    assert store.offsets(PROJECTOR_CONSUMER) == {(TOPIC, 0): 4}


class RefusesRj2(ReadModelStore):
    """The database refuses job rj_2's text (PostgreSQL and NUL, say): the whole transaction fails with it."""

    def apply(self, consumer: str, batch: list[Consumed], now: datetime) -> Any:
        if any(item.event.job_id == "rj_2" for item in batch):
            raise sa_exc.DataError("INSERT ...", {}, ValueError("text fields cannot contain NUL (0x00) bytes"))
        return super().apply(consumer, batch, now)


def test_a_record_whose_text_the_database_refuses_is_set_aside_alone(engine: Engine, tmp_path: Path) -> None:
    # Given a batch whose middle record the database refuses
    store = RefusesRj2(engine)
    projector, sink = projector_over(store, tmp_path)

    # When the batch is projected
    projector.project([as_record(0, pushed(1)), as_record(1, pushed(2)), as_record(2, pushed(3))])

    # Then the batch is retried record by record: the others are stored, the refused one set aside, offsets past all
    assert job_ids(engine) == {"rj_1", "rj_3"}
    [(record, error)] = sink.aside
    assert record.offset == 1 and isinstance(error, sa_exc.DataError)
    assert store.offsets(PROJECTOR_CONSUMER) == {(TOPIC, 0): 3}


class LostConnection(ReadModelStore):
    def apply(self, _consumer: str, _batch: list[Consumed], _now: datetime) -> Any:
        raise sa_exc.OperationalError("INSERT ...", {}, ConnectionResetError("server closed the connection"))


def test_a_lost_database_connection_stops_the_projector_and_sets_nothing_aside(tmp_path: Path) -> None:
    # Given a store whose database went away
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    create_schema(engine)
    projector, sink = projector_over(LostConnection(engine), tmp_path)

    # When a batch is projected
    # Then the error stops it (the supervisor restarts it, to try again), and no record is blamed
    with pytest.raises(sa_exc.OperationalError):
        projector.project([as_record(0, pushed(1)), as_record(1, pushed(2))])
    assert sink.aside == []
    engine.dispose()


@pytest.mark.parametrize(
    ("error", "records_fault"),
    [
        (TenantMismatch("t2 is not t1"), True),
        (CodecError("not JSON"), True),
        (sa_exc.DataError("INSERT", {}, Exception("NUL")), True),
        (sa_exc.IntegrityError("INSERT", {}, Exception("duplicate")), True),
        (sa_exc.StatementError("bind", "INSERT", {}, UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogate")), True),
        (sa_exc.OperationalError("INSERT", {}, Exception("connection lost")), False),
        (sa_exc.InterfaceError("INSERT", {}, Exception("closed")), False),
        (RuntimeError("a bug of ours"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_whose_fault_a_failure_is(error: BaseException, records_fault: bool) -> None:
    # Given a failure while applying; When it is judged; Then only the record's own faults set it aside
    assert is_the_records_fault(error) is records_fault
