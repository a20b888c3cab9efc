"""``chronohook tenants suspend|resume`` (decision 0030): an operator pauses every active schedule of a tenant and
resumes only those it paused; both idempotent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from chronohook.cli import app
from chronohook.kafka.log import InMemoryEventLog
from chronohook.readmodel.store import PROJECTOR_CONSUMER, Consumed, ReadModelStore
from chronohook.store.engine import create_schema, make_engine
from schemas.codec import decode_event
from schemas.events import Envelope, Event, HttpRequestSpec, JobCreated, JobPaused, JobResumed
from services.ingest.tenants import resume, resume_events, suspend, suspend_events

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TOPIC = "chronohook.job-events"


def test_the_events_are_an_operators() -> None:
    (paused,) = suspend_events("t1", ["j1"], T0)
    (resumed,) = resume_events("t1", ["j1"], T0)
    assert isinstance(paused, JobPaused) and isinstance(resumed, JobResumed)
    assert (paused.by, resumed.by, paused.tenant, paused.job_id, paused.occurred_at) == (
        "operator",
        "operator",
        "t1",
        "j1",
        T0,
    )
    assert paused.event_id != suspend_events("t1", ["j1"], T0)[0].event_id


def _created(job_id: str, tenant: str = "t1", schedule: str | None = "* * * * * *") -> JobCreated:
    return JobCreated(
        event_id=f"c-{job_id}",
        job_id=job_id,
        tenant=tenant,
        occurred_at=T0,
        api="quedup",
        name=job_id,
        request=HttpRequestSpec(method="POST", url="https://example.com/x"),
        schedule=schedule,
    )


def test_suspend_then_resume_leaves_the_tenants_own_pauses_alone(tmp_path: Path) -> None:
    # Given tenant t1's two active schedules, one it paused itself, a one-off; and t2's schedule
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    create_schema(engine)
    store = ReadModelStore(engine)
    log = InMemoryEventLog()
    seed: list[Envelope] = [
        _created("a"),
        _created("b"),
        _created("mine"),
        JobPaused(event_id="p", job_id="mine", tenant="t1", occurred_at=T0),
        _created("once", schedule=None),
        _created("other", tenant="t2"),
    ]
    asyncio.run(log.append(seed))

    def project() -> list[Event]:
        events = [decode_event(v) for _, v, _ in log.records]
        store.apply(PROJECTOR_CONSUMER, [Consumed(TOPIC, 0, i, e) for i, e in enumerate(events)], T0)
        return events[len(seed) :]

    def now() -> datetime:
        return T0

    project()

    # When an operator suspends t1 (twice: the second finds nothing left)
    first = suspend(engine, log, "t1", now)
    written = project()
    again = suspend(engine, log, "t1", now)

    # Then both active schedules were paused by the operator, nothing else; and they read paused
    assert (first.changed, again.changed) == (2, 0)
    assert sorted(e.job_id for e in written if isinstance(e, JobPaused) and e.by == "operator") == ["a", "b"]
    assert all(v is not None and v.paused for v in (store.job("t1", "a"), store.job("t1", "b")))
    other = store.job("t2", "other")
    assert other is not None and not other.paused

    # When the operator resumes t1 (twice)
    back = resume(engine, log, "t1", now)
    resumed = project()
    idle = resume(engine, log, "t1", now)

    # Then the two it paused run again and the tenant's own pause stays
    assert (back.changed, idle.changed) == (2, 0)
    assert sorted(e.job_id for e in resumed if isinstance(e, JobResumed)) == ["a", "b"]
    mine = store.job("t1", "mine")
    assert mine is not None and mine.paused
    assert all(v is not None and not v.paused for v in (store.job("t1", "a"), store.job("t1", "b")))
    engine.dispose()


def test_the_command_is_listed() -> None:
    result = CliRunner().invoke(app, ["tenants", "--help"])
    assert result.exit_code == 0 and "suspend" in result.output and "resume" in result.output
