"""Health that tells the truth (decision 0042): a service process whose loop stops making progress makes /readyz
answer 503 naming it; one gone for long enough no longer counts; a clean stop removes its row."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chronohook.clock import FixedClock, to_ms
from chronohook.heartbeats import Beat, Heartbeat, Pulse, PulsingAsyncEvent, PulsingEvent, read_beats, stalled
from chronohook.kafka.log import InMemoryEventLog
from chronohook.settings import Settings
from chronohook.store.engine import create_schema, make_engine
from services.ingest.app import build_context, create_app
from tests.support.polling import eventually
from tests.support.postgres import new_database
from tests.unit.test_ingest_api import NOW

NOW_MS = to_ms(NOW)


@pytest.mark.parametrize(
    ("age_s", "is_stalled"),
    [
        (0.0, False),  # just beat
        (15.0, False),  # at the threshold: not yet
        (15.5, True),  # past it: stalled
        (120.0, True),  # up to the gone threshold
        (120.5, False),  # past it: a process gone (crashed, replaced), not counted
    ],
)
def test_a_beat_is_stalled_between_the_stale_and_the_gone_thresholds(age_s: float, is_stalled: bool) -> None:
    # Given one executor's beat of that age
    beats = [Beat("executor", "p.executor-1", NOW_MS - int(age_s * 1000))]
    # When the beats are judged with stale 15 s and gone 120 s
    found = stalled(beats, NOW_MS, stale_s=15.0, gone_s=120.0)
    # Then it is stalled only between the two
    assert [s.instance for s in found] == (["p.executor-1"] if is_stalled else [])


def test_a_stalled_process_is_described_by_service_instance_and_age() -> None:
    [found] = stalled([Beat("timer", "p.timer", NOW_MS - 21_000)], NOW_MS, 15.0, 120.0)
    assert found.describe() == "timer (p.timer): no progress for 21 s"


def test_the_stop_flags_pulse_each_time_the_loop_asks_them() -> None:
    # Given a pulse last seen long ago
    pulse = Pulse()
    pulse.last -= 100
    # When a loop asks its stop flag (threading and asyncio flavours)
    assert not PulsingEvent(pulse).is_set()
    # Then the pulse is fresh again
    assert pulse.age() < 1
    pulse.last -= 100

    async def ask() -> bool:
        return PulsingAsyncEvent(pulse).is_set()

    assert not asyncio.run(ask())
    assert pulse.age() < 1


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, heartbeat_stale_s=15.0, heartbeat_gone_s=120.0)


@pytest.fixture
def client(settings: Settings) -> Iterator[tuple[TestClient, Settings]]:
    ctx = build_context(settings, FixedClock(NOW), log=InMemoryEventLog())
    with TestClient(create_app(ctx)) as client:
        yield client, settings


def _beat_at(settings: Settings, service: str, instance: str, age_s: float) -> Heartbeat:
    """A heartbeat row written as of ``age_s`` before NOW (its loop last went round then)."""
    from chronohook.store.engine import create_schema, make_engine

    engine = make_engine(settings.resolved_database_url)
    create_schema(engine)
    pulse = Pulse()
    heartbeat = Heartbeat(engine, service, instance, pulse, 60.0, wall_ms=lambda: NOW_MS)
    pulse.last = time.monotonic() - age_s
    heartbeat._write()
    return heartbeat


def test_readyz_names_the_stalled_service_and_answers_200_when_it_beats_again(
    client: tuple[TestClient, Settings],
) -> None:
    c, settings = client
    # Given a timer beating and an executor whose loop last went round 20 s ago (SIGSTOPped, say)
    _beat_at(settings, "timer", "p.timer", 1.0)
    executor = _beat_at(settings, "executor", "p.executor-1", 20.0)
    # When readiness is asked
    r = c.get("/readyz")
    # Then it is 503, naming the executor, with the timer ok
    assert r.status_code == 503, r.text
    assert r.json()["services"] == {"timer": "ok", "executor": "stalled"}
    assert r.json()["stalled"] == ["executor (p.executor-1): no progress for 20 s"]
    # When the executor's loop goes round again and it beats
    executor.pulse.beat()
    executor._write()
    # Then readiness is 200 again
    r = c.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["services"] == {"timer": "ok", "executor": "ok"}


def test_a_process_gone_for_long_does_not_hold_readyz_at_503(client: tuple[TestClient, Settings]) -> None:
    c, settings = client
    # Given an executor killed -9 long ago (its row last renewed 10 minutes back) and its replacement beating
    _beat_at(settings, "executor", "host-a:123", 600.0)
    _beat_at(settings, "executor", "host-b:456", 1.0)
    # When readiness is asked
    r = c.get("/readyz")
    # Then the dead one is not counted
    assert r.status_code == 200, r.text
    assert r.json()["services"] == {"executor": "ok"}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'chronohook.db'}"
    return new_database(request.getfixturevalue("postgres_url"))


def test_a_heartbeat_renews_its_row_and_a_clean_stop_removes_it(database_url: str) -> None:
    # Given a running heartbeat (SQLite, PostgreSQL)
    engine = make_engine(database_url)
    create_schema(engine)
    clock = [NOW_MS]
    heartbeat = Heartbeat(engine, "projector", "p.projector", Pulse(), 0.05, wall_ms=lambda: clock[0]).start()
    try:
        [first] = read_beats(engine)
        # When time passes and its loop goes round
        clock[0] += 5_000
        heartbeat.pulse.beat()
        # Then its one row is renewed
        eventually(
            lambda: [b.beat_ms > NOW_MS + 4_000 for b in read_beats(engine)] == [True], timeout=10, what="renewed"
        )
        assert first.service == "projector" and first.beat_ms <= NOW_MS
    finally:
        # When it stops
        heartbeat.stop()
    # Then its row is gone
    assert read_beats(engine) == []
    engine.dispose()


def test_the_beat_written_is_the_loops_last_progress_not_the_write_time(settings: Settings) -> None:
    # Given a loop that last went round 30 s ago while its heartbeat thread still runs
    heartbeat = _beat_at(settings, "timer", "p.timer", 30.0)
    # Then the row says 30 s ago
    [beat] = read_beats(heartbeat.engine)
    assert timedelta(milliseconds=NOW_MS - beat.beat_ms).total_seconds() == pytest.approx(30.0, abs=0.5)
