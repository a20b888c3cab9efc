"""Records a hostile or broken writer could put on the job log (nesting 100,000 deep, integers of 5,000 digits):
every consumer sets them aside and moves on, none crash-loops on them (issue 14)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from chronohook.clock import FixedClock
from chronohook.readmodel.store import PROJECTOR_CONSUMER, ReadModelStore
from chronohook.settings import Settings
from chronohook.store.engine import create_schema, make_engine
from schemas import CodecError
from services.projector.replay import Replayer
from tests.unit.test_dead_records_executor import executor, handled
from tests.unit.test_dead_records_executor import record as executor_record
from tests.unit.test_dead_records_projector import TOPIC, as_record, job_ids, projector_over, pushed

T0 = datetime(2026, 1, 1, tzinfo=UTC)

HOSTILE = {
    "nested_100k": b"[" * 100_000 + b"]" * 100_000,
    "unclosed_objects": b'{"a":' * 100_000,
    "int_5000_digits": b'{"type": "JobPushed", "integer_id": ' + b"9" * 5_000 + b"}",
    "version_5000_digits": b'{"type": "JobDue", "schema_version": ' + b"9" * 5_000 + b"}",
}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    create_schema(eng)
    yield eng
    eng.dispose()


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_the_projector_sets_a_hostile_record_aside_and_moves_on(engine: Engine, tmp_path: Path, name: str) -> None:
    # Given a hostile record between two good pushes
    store = ReadModelStore(engine)
    projector, sink = projector_over(store, tmp_path)
    records = [as_record(10, pushed(1)), as_record(11, value=HOSTILE[name]), as_record(12, pushed(2))]

    # When the projector folds them
    projector.project(records)

    # Then the good jobs are stored, the hostile record is set aside as a CodecError, and the offset moved past all
    assert job_ids(engine) == {"rj_1", "rj_2"}
    [(record, error)] = sink.aside
    assert record.offset == 11 and isinstance(error, CodecError)
    assert store.offsets(PROJECTOR_CONSUMER) == {(TOPIC, 0): 13}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_replay_counts_a_hostile_record_as_set_aside_and_goes_on(engine: Engine, tmp_path: Path, name: str) -> None:
    # Given a replayer over an empty target (its fold is the projector's, its sink only counts)
    replayer = Replayer(Settings(data_dir=tmp_path), ReadModelStore(engine), FixedClock(T0))

    # When it folds a hostile record between two good ones
    replayer.projector.project([as_record(0, pushed(1)), as_record(1, value=HOSTILE[name]), as_record(2, pushed(2))])

    # Then it reports the record as set aside, with the codec's reason, and folded the rest
    [aside] = replayer.sink.records
    assert (aside.offset, aside.partition) == (1, 0)
    assert aside.reason
    assert job_ids(engine) == {"rj_1", "rj_2"}
    assert replayer.store.offsets("replay") == {(TOPIC, 0): 3}


@pytest.mark.parametrize("type_", ["JobDue", "CallbackDue", "AlertDue"])
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_the_executor_sets_a_hostile_record_aside_whatever_its_header(tmp_path: Path, name: str, type_: str) -> None:
    # Given a hostile value under a type header the executor acts on
    service, sink = executor(tmp_path)
    rec = executor_record(5, HOSTILE[name], type_)

    # When the executor handles it
    asyncio.run(handled(service, rec))

    # Then it is set aside as a CodecError, the service did not fail, and its offset may be committed
    [(aside, error)] = sink.aside
    assert aside.offset == 5 and isinstance(error, CodecError)
    assert service.failure is None
    assert service.tracker.committable() == [("p.job-events", 1, 6)]
