"""A deleted queue's tombstone (decision 0030), pure and against the read model: the timer's book forgets the queue,
the projector removes its row; and the read-model counts the tenant caps use, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from chronohook.clock import FixedClock
from chronohook.kafka.records import Record, record_of
from chronohook.readmodel.counts import (
    active_schedule_ids,
    active_schedules,
    existing_queues,
    pending_in_queue,
    queue_count,
    suspended_ids,
)
from chronohook.readmodel.queues import queue_by_name
from chronohook.readmodel.store import PROJECTOR_CONSUMER, Consumed, ReadModelStore
from chronohook.settings import Settings
from schemas.events import (
    Event,
    HttpRequestSpec,
    JobCreated,
    JobDeleted,
    JobPaused,
    JobPushed,
    QueueSettings,
    QueueSettingsChanged,
)
from schemas.topics import queue_of_settings_key, queue_settings_key
from services.projector.service import Projector
from services.timer.queues import DEFAULT_SETTINGS, QueueBook

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SETTINGS_TOPIC = "chronohook.queue-settings"
EVENTS_TOPIC = "chronohook.job-events"
REQUEST = HttpRequestSpec(method="POST", url="https://example.com/x")


def changed(queue: str = "emails", tenant: str = "t1", qid: int = 77, active: bool = True) -> QueueSettingsChanged:
    return QueueSettingsChanged(
        event_id=f"s-{tenant}-{queue}-{active}",
        job_id=queue_settings_key(tenant, qid),
        tenant=tenant,
        occurred_at=T0,
        queue=queue,
        queue_id=qid,
        settings=QueueSettings(is_active=active, timeout_seconds=5),
    )


def settings_record(offset: int, event: QueueSettingsChanged) -> Record:
    key, value, _ = record_of(event)
    return Record(SETTINGS_TOPIC, 0, offset, key, value, "QueueSettingsChanged")


def tombstone(offset: int, tenant: str = "t1", qid: int = 77, key: bytes | None = None) -> Record:
    return Record(SETTINGS_TOPIC, 0, offset, key or queue_settings_key(tenant, qid).encode(), None, None)


# -- the key ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (b"queue:t1:77", ("t1", 77)),
        (b"queue:a:b:c:5", ("a:b:c", 5)),  # a tenant with colons: the id is after the last one
        ("queue:t1:9007199254740991", ("t1", 9007199254740991)),
    ],
)
def test_a_queue_key_names_its_tenant_and_queue_id(key: bytes | str, expected: tuple[str, int]) -> None:
    assert queue_of_settings_key(key) == expected


@pytest.mark.parametrize(
    "key", [None, b"", b"rj_1", b"queue:t1:", b"queue::7", b"queue:t1:x", b"queue:t1:-1", b"q:t:1"]
)
def test_any_other_key_is_a_value_error(key: bytes | None) -> None:
    with pytest.raises(ValueError, match="no queue's key"):
        queue_of_settings_key(key)


# -- the timer's book --------------------------------------------------------------------------------------------------
def test_a_tombstone_forgets_the_queues_settings_and_the_book_keeps_live_queues_only() -> None:
    # Given a book with two queues' settings, read from their records
    book = QueueBook()
    assert book.take(settings_record(0, changed("emails", qid=77))) is None
    assert book.take(settings_record(1, changed("sms", qid=78))) is None
    assert book.settings_for("t1", "emails").timeout_seconds == 5 and len(book) == 2

    # When the first queue's tombstone is read
    released = book.take(tombstone(2, qid=77))

    # Then its settings are forgotten (a queue of that name starts with the defaults) and the other's kept
    assert released is None  # it was not paused: no held jobs to arm
    assert book.settings_for("t1", "emails") == DEFAULT_SETTINGS
    assert book.settings_for("t1", "sms").timeout_seconds == 5
    assert len(book) == 1
    # And a tombstone again, or of a queue never configured, or another tenant's id, changes nothing
    assert book.take(tombstone(3, qid=77)) is None and book.take(tombstone(4, tenant="t2", qid=78)) is None
    assert len(book) == 1


def test_a_paused_queues_tombstone_releases_what_it_held() -> None:
    # Given a paused queue
    book = QueueBook()
    book.take(settings_record(0, changed(active=False)))
    assert not book.settings_for("t1", "emails").is_active
    # When its tombstone is read
    # Then its jobs (a push may race the delete) are to be armed again, under the defaults
    assert book.take(tombstone(1)) == ("t1", "emails")
    assert book.settings_for("t1", "emails").is_active


def test_a_record_that_is_neither_settings_nor_a_queues_tombstone_raises_to_be_set_aside() -> None:
    book = QueueBook()
    with pytest.raises(ValueError, match="no queue's key"):
        book.take(tombstone(0, key=b"rj_1"))
    key, value, _ = record_of(JobDeleted(event_id="d", job_id="j", tenant="t1", occurred_at=T0))
    with pytest.raises(Exception, match="JobDeleted on the queue settings topic"):
        book.take(Record(SETTINGS_TOPIC, 0, 1, key, value, "JobDeleted"))


# -- the projector -----------------------------------------------------------------------------------------------------
class Sink:
    def __init__(self) -> None:
        self.aside: list[Record] = []

    def set_aside(self, record: Record, _error: BaseException | str, _at: datetime) -> None:
        self.aside.append(record)

    def close(self) -> None:
        return None


def projector(store: ReadModelStore, tmp_path: Path) -> tuple[Projector, Sink]:
    sink = Sink()
    settings = Settings(data_dir=tmp_path)
    return Projector(settings, FixedClock(T0), store, threading.Event(), dead=sink), sink


def test_the_projector_removes_a_deleted_queues_row_in_log_order(engine: Engine, tmp_path: Path) -> None:
    # Given the projector over a queue's settings, its tombstone and a new queue of the same name, in one batch
    store = ReadModelStore(engine)
    proj, sink = projector(store, tmp_path)
    proj.project([settings_record(0, changed()), settings_record(1, changed("sms", qid=78)), tombstone(2)])

    # Then the deleted queue is gone, the other kept, the offset past the tombstone
    assert queue_by_name(engine, "t1", "emails") is None
    assert queue_by_name(engine, "t1", "sms") is not None
    assert store.offsets(PROJECTOR_CONSUMER) == {(SETTINGS_TOPIC, 0): 3}
    # And a queue of that name made later is a fresh row; the old tombstone read again (a restart) removes nothing
    proj.project([settings_record(3, changed(active=False))])
    proj.project([tombstone(2)])
    fresh = queue_by_name(engine, "t1", "emails")
    assert fresh is not None and fresh.settings.is_active is False
    # And a tombstone whose key names no queue is set aside, the offset moved past it
    proj.project([tombstone(4, key=b"garbage")])
    assert [r.offset for r in sink.aside] == [4]
    assert store.offsets(PROJECTOR_CONSUMER) == {(SETTINGS_TOPIC, 0): 5}


# -- the counts the caps read ----------------------------------------------------------------------------------------
def _created(i: int, tenant: str = "t1", schedule: str | None = "0 9 * * *", api: str = "quedup") -> JobCreated:
    return JobCreated(
        event_id=f"c{i}{tenant}",
        job_id=f"j{i}{tenant}",
        tenant=tenant,
        occurred_at=T0,
        api=api,
        name=f"n{i}",
        request=REQUEST,
        schedule=schedule,
        integer_id=i if api == "recuro_cron" else None,
    )


def _pushed(i: int, queue: str, tenant: str = "t1") -> JobPushed:
    return JobPushed(
        event_id=f"p{i}",
        job_id=f"rj_{i}",
        tenant=tenant,
        occurred_at=T0,
        integer_id=i,
        queue=queue,
        queue_id=100 + i,
        request=REQUEST,
        scheduled_at=T0,
    )


def test_the_counts_of_schedules_and_queues(engine: Engine) -> None:
    # Given t1's schedules: two daily (one a cron), one every second, one paused by its tenant, one by an operator, a
    # one-off and a deleted one; t2's schedule; pushes to two queues
    store = ReadModelStore(engine)
    events: list[Event] = [
        _created(1),
        _created(2, api="recuro_cron"),
        _created(3, schedule="* * * * * *"),
        _created(4),
        JobPaused(event_id="p4", job_id="j4t1", tenant="t1", occurred_at=T0),
        _created(5),
        JobPaused(event_id="p5", job_id="j5t1", tenant="t1", occurred_at=T0, by="operator"),
        _created(6, schedule=None),
        _created(7),
        JobDeleted(event_id="d7", job_id="j7t1", tenant="t1", occurred_at=T0),
        _created(8, tenant="t2"),
        _pushed(1, "emails"),
        _pushed(2, "emails"),
        _pushed(3, "sms"),
    ]
    store.apply(PROJECTOR_CONSUMER, [Consumed(EVENTS_TOPIC, 0, i, e) for i, e in enumerate(events)], T0)

    # Then the active schedules are the three not paused nor deleted, by expression
    assert sorted(active_schedules(engine, "t1")) == [("* * * * * *", 1), ("0 9 * * *", 2)]
    assert active_schedule_ids(engine, "t1") == ["j1t1", "j2t1", "j3t1"]
    assert suspended_ids(engine, "t1") == ["j5t1"]
    assert active_schedules(engine, "t2") == [("0 9 * * *", 1)] and suspended_ids(engine, "t2") == []
    # And the queues, and the jobs each holds
    assert queue_count(engine, "t1") == 2 and queue_count(engine, "t2") == 0
    assert existing_queues(engine, "t1", ["emails", "nope", "sms"]) == {"emails", "sms"}
    assert existing_queues(engine, "t2", ["emails"]) == set()
    assert pending_in_queue(engine, "t1", "emails") == 2 and pending_in_queue(engine, "t2", "emails") == 0


def _deleted_at(offset: int, tenant: str, qid: int, at: datetime) -> Record:
    key = queue_settings_key(tenant, qid).encode()
    return Record(SETTINGS_TOPIC, 0, offset, key, None, None, (("deleted_at", at.isoformat().encode()),))


def _push_record(offset: int, tenant: str, qid: int, at: datetime) -> Record:
    event = JobPushed(
        event_id=f"p{tenant}{offset}",
        job_id=f"rj_{tenant}_{offset}",
        tenant=tenant,
        occurred_at=at,
        integer_id=offset,
        queue="emails",
        queue_id=qid,
        request=REQUEST,
        scheduled_at=at,
    )
    key, value, _ = record_of(event)
    return Record(EVENTS_TOPIC, 0, offset, key, value, "JobPushed")


@pytest.mark.parametrize("with_later_push", [True, False])
def test_a_deletion_folds_the_same_whatever_the_order_of_the_two_topics(
    engine: Engine, tmp_path: Path, with_later_push: bool
) -> None:
    # Given a queue's settings (t0), a push before its deletion (t1), its tombstone (t2) and maybe a push after (t3):
    # the job log and the queue-settings topic are read in no mutual order (live, and a replay, differ)
    store = ReadModelStore(engine)
    proj, sink = projector(store, tmp_path)
    t = [datetime(2026, 1, 1, 0, 0, i, tzinfo=UTC) for i in range(4)]
    orders = {
        "as written": ["settings", "push1", "tombstone", "push2"],
        "push folded after the tombstone": ["settings", "tombstone", "push1", "push2"],
        "both pushes first": ["push1", "push2", "settings", "tombstone"],
        "the later push before the tombstone": ["settings", "push1", "push2", "tombstone"],
    }
    results = {}
    for n, (label, order) in enumerate(orders.items()):
        tenant, qid = f"t{n}", 500 + n
        setting = changed(tenant=tenant, qid=qid, active=False).model_copy(update={"occurred_at": t[0]})
        base = 10 * n  # offsets unique across the runs: one projector, one stored offset per topic
        records = {
            "settings": settings_record(base, setting),
            "push1": _push_record(base, tenant, qid, t[1]),
            "tombstone": _deleted_at(base + 1, tenant, qid, t[2]),
            "push2": _push_record(base + 1, tenant, qid, t[3]),
        }
        # When the records are folded in this order, one at a time
        for name in order:
            if name != "push2" or with_later_push:
                proj.project([records[name]])
        view = queue_by_name(engine, tenant, "emails")
        results[label] = None if view is None else view.settings

    # Then every order ends alike: the queue is gone, or (pushed to after its deletion) back with the defaults
    expected = QueueSettings() if with_later_push else None
    assert results == dict.fromkeys(orders, expected)
    assert sink.aside == []
