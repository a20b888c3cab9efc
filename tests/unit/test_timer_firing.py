"""A timer step fires at most its cap, in due order; the rest stay armed and fire at the next step, with no wait;
an entry that raises is disarmed and recorded (JobFireFailed), and the others fire (decision 0028)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

from chronohook.clock import FixedClock, to_ms
from chronohook.kafka.records import record_of
from chronohook.settings import Settings
from schemas import decode_event
from schemas.changelog import TimerEntry
from schemas.events import Envelope, HttpRequestSpec, JobCreated, JobDue, JobFireFailed, RetryPolicy
from services.timer.buckets import TimeBuckets
from services.timer.budget import TenantBudgets
from services.timer.firing import Candidate, FireCap, fire_due, job_id_of_key, plan
from services.timer.queues import default_settings
from services.timer.service import TimerService
from services.timer.store import MemoryEntryStore, Row
from tests.unit.test_dead_records_timer import FakeConsumer, FakeTransactionalProducer, Msg

T0 = datetime(2026, 4, 10, 14, 5, 30, tzinfo=UTC)


def c(key: str, due_ms: int = 0, size: int = 1) -> Candidate:
    return Candidate(key, 0, due_ms, size)


@pytest.mark.parametrize(
    ("sizes", "cap", "fired"),
    [
        # Nothing due: nothing fires.
        ([], FireCap(5, 100), 0),
        # Under both caps: all of it.
        ([1, 1, 1], FireCap(5, 100), 3),
        # The entry cap: the first five, in order.
        ([1] * 8, FireCap(5, 100), 5),
        # The byte cap: as many as fit (10 + 20 + 30 = 60 <= 60; a fourth would be 100).
        ([10, 20, 30, 40], FireCap(5, 60), 3),
        # The first always fires, however large: else it never would.
        ([500, 1], FireCap(5, 100), 1),
        # Exactly at the byte cap still fits.
        ([50, 50, 1], FireCap(5, 100), 2),
        # Both caps: the tighter one wins.
        ([10] * 10, FireCap(3, 25), 2),
    ],
)
def test_plan_fires_the_longest_prefix_within_the_cap(sizes: list[int], cap: FireCap, fired: int) -> None:
    # Given candidates in due order
    candidates = [c(f"j{i}", i, size) for i, size in enumerate(sizes)]
    # When a step plans them
    now, kept = plan(candidates, cap)
    # Then a prefix fires and the rest, in order, stays for the next step
    assert now == candidates[:fired] and kept == candidates[fired:]


@pytest.mark.parametrize(
    ("armed", "now_ms", "limit", "popped", "left"),
    [
        # Due order across buckets, ties by id; the limit cuts in due order and the rest stays armed.
        ([("b", 1_500), ("a", 1_500), ("c", 700), ("d", 2_100)], 3_000, 2, ["c", "a"], 2),
        # The rest is popped next time, first.
        ([("b", 1_500), ("a", 1_500), ("c", 700)], 3_000, 10, ["c", "a", "b"], 0),
        # Not yet due stays, whatever the limit.
        ([("a", 1_000), ("b", 5_000)], 3_000, 10, ["a"], 1),
        # A limit inside one large bucket.
        ([(f"k{i:02}", 1_000 + i) for i in range(20)], 3_000, 7, [f"k{i:02}" for i in range(7)], 13),
        # Within one bucket, only those due by now, even under the limit.
        ([("early", 1_100), ("late", 1_900)], 1_500, 5, ["early"], 1),
    ],
)
def test_buckets_pop_at_most_the_limit_earliest_first(
    armed: list[tuple[str, int]], now_ms: int, limit: int, popped: list[str], left: int
) -> None:
    # Given armed jobs
    buckets = TimeBuckets(width_ms=1000)
    for job, due in armed:
        buckets.arm(job, due, partition=3)
    # When at most ``limit`` due ones are popped
    got = buckets.pop_due_limited(now_ms, limit)
    # Then those, earliest first with partition and due time, and the rest still armed
    assert [job for job, _, _, _ in got] == popped
    assert all(partition == 3 and due == dict(armed)[job] for job, partition, due, _ in got)
    assert len(buckets) == left


def test_a_partly_popped_bucket_keeps_its_order_through_arms_and_cancels() -> None:
    # Given a large bucket popped in part
    buckets = TimeBuckets(width_ms=1000)
    for i in range(10):
        buckets.arm(f"k{i}", 1_000 + i)
    assert [j for j, _, _, _ in buckets.pop_due_limited(5_000, 3)] == ["k0", "k1", "k2"]
    # When one left is cancelled, one re-armed later in the same bucket, and a new one armed early in it
    buckets.cancel("k4")
    buckets.arm("k3", 1_500)
    buckets.arm("new", 1_003)
    # Then the rest comes out in due order, each once
    rest = [j for j, _, _, _ in buckets.pop_due_limited(5_000, 100)]
    assert rest == ["new", "k5", "k6", "k7", "k8", "k9", "k3"]
    assert len(buckets) == 0 and buckets.next_due_ms() is None


@pytest.mark.parametrize(
    ("key", "job_id"),
    [
        ("job_01abc", "job_01abc"),
        ("rj_42", "rj_42"),
        ("cb:job_01abc:1760000000000:2", "job_01abc"),
        ("alert:rc_7:1760000000000:1", "rc_7"),
        ("dlq:rj_42", "rj_42"),
        ("queue:acme:17", "queue:acme:17"),
    ],
)
def test_the_job_an_entry_key_belongs_to(key: str, job_id: str) -> None:
    assert job_id_of_key(key) == job_id


def entry(job_id: str, due: datetime, tenant: str = "t1") -> TimerEntry:
    return TimerEntry(
        job_id=job_id, tenant=tenant, api="quedup", request=HttpRequestSpec(method="GET", url="http://127.0.0.2:9/x"),
        retry=RetryPolicy(), next_due=due,
    )  # fmt: skip


class Boom(Exception):
    pass


def test_an_entry_that_raises_is_disarmed_and_recorded_and_the_others_fire() -> None:
    # Given three due entries: one reads fine, one does not read, one raises while firing
    now = T0
    entries = {"ok": entry("ok", T0), "bad-read": None, "bad-fire": entry("bad-fire", T0)}
    buckets = TimeBuckets()
    for key in entries:
        buckets.arm(key, to_ms(T0))
    put: dict[str, object] = {}

    def get(key: str, _partition: int) -> TimerEntry | None:
        if key == "bad-read":
            raise Boom("not an entry")
        return entries[key]

    # (firing "bad-fire" raises: its schedule is not a schedule)
    entries["bad-fire"] = entry("bad-fire", T0).model_copy(update={"schedule": "not a cron"})

    # When the step fires
    out = fire_due(
        buckets, get, lambda k, _p, e: put.__setitem__(k, e), now, timedelta(0), FireCap(10, 10**9),
        default_settings, TenantBudgets(0.0),
    )  # fmt: skip

    # Then the good one fired, and each bad one is recorded with its error and tombstoned (disarmed)
    dues = [e for e in out if isinstance(e, JobDue)]
    failed = {e.entry_key: e for e in out if isinstance(e, JobFireFailed)}
    assert [d.job_id for d in dues] == ["ok"]
    assert set(failed) == {"bad-read", "bad-fire"}
    assert "Boom: not an entry" in failed["bad-read"].error
    assert failed["bad-fire"].tenant == "t1" and failed["bad-fire"].job_id == "bad-fire"
    assert put["bad-read"] is None and put["bad-fire"] is None
    assert len(buckets) == 0


def test_a_fire_failed_error_is_cut_to_its_bound() -> None:
    # Given an entry whose firing raises with a huge message
    buckets = TimeBuckets()
    buckets.arm("j", to_ms(T0))

    def get(_key: str, _partition: int) -> TimerEntry:
        raise Boom("x" * 100_000)

    # When it fires
    [failed] = fire_due(
        buckets, get, lambda *_: None, T0, timedelta(0), FireCap(10, 10**9), default_settings, TenantBudgets(0.0)
    )
    # Then its error is bounded, and the event round-trips through the codec
    assert isinstance(failed, JobFireFailed) and len(failed.error) == 500
    assert decode_event(record_of(failed)[1]) == failed


# -- through the shell --------------------------------------------------------------------------------------------


def created(job_id: str, at: datetime, tenant: str = "t1") -> Msg:
    event = JobCreated(
        event_id=f"evt_{job_id}", job_id=job_id, tenant=tenant, occurred_at=T0 - timedelta(minutes=1), api="quedup",
        name=job_id, request=HttpRequestSpec(method="GET", url="http://127.0.0.2:9/x"), run_at=at,
    )  # fmt: skip
    key, value, headers = record_of(event)
    return Msg("p.job-events", 0, 2, key, value, [(n, v if isinstance(v, bytes) else b"") for n, v in headers])


def timer(
    tmp_path: Path, clock: FixedClock, **settings: object
) -> tuple[TimerService, FakeConsumer, FakeTransactionalProducer]:
    service = TimerService(
        Settings(data_dir=tmp_path, topic_prefix="p", partitions=1, **settings),  # type: ignore[arg-type]
        clock,
        store=MemoryEntryStore(),
    )
    consumer, producer = FakeConsumer([]), FakeTransactionalProducer()
    service.consumer, service.producer = consumer, producer
    service.store.open(0)
    service.owned.add(0)
    service._on_assign(consumer, [TopicPartition("p.job-events", 0)])  # (owned already: only the budget's share)
    return service, consumer, producer


def events_of(transaction: list[tuple[str, object, dict[str, object]]]) -> list[Envelope]:
    return [
        decode_event(value) for topic, value, _ in transaction if topic == "p.job-events" and isinstance(value, bytes)
    ]


def test_a_step_fires_at_most_the_cap_in_due_order_and_the_next_step_takes_the_rest_at_once(tmp_path: Path) -> None:
    # Given a timer with a cap of 5 entries a step, and 12 jobs due at the same instant plus 2 a second later
    clock = FixedClock(T0)
    service, consumer, producer = timer(tmp_path, clock, timer_fire_max_entries=5)
    consumer.waiting = [created(f"j{i:02}", T0) for i in range(12)]
    consumer.waiting += [created("later-a", T0 + timedelta(seconds=1)), created("later-b", T0 + timedelta(seconds=1))]
    service._last_commit -= 1
    service.step()  # consumes, arms, and fires the first five

    # When the timer steps on, the clock still (time does not move: no step waits for it)
    for _ in range(3):
        service.step()

    # Then each transaction holds at most 5 JobDues, and they came in due order, ties by id
    per_step = [[e.job_id for e in events_of(t) if isinstance(e, JobDue)] for t in producer.committed]
    fired = [job for step in per_step for job in step]
    assert [len(step) for step in per_step if step] == [5, 5, 2]
    assert fired == [f"j{i:02}" for i in range(12)]
    # And the later ones are armed, not fired before their time
    assert "later-a" in service.buckets and "later-b" in service.buckets

    # When their instant comes
    clock.advance(1)
    service.step()
    # Then they fire, once each
    assert [e.job_id for e in events_of(producer.committed[-1]) if isinstance(e, JobDue)] == ["later-a", "later-b"]


def test_after_a_capped_step_the_next_one_does_not_wait(tmp_path: Path) -> None:
    # Given a capped step that left due entries armed
    clock = FixedClock(T0)
    service, consumer, _ = timer(tmp_path, clock, timer_fire_max_entries=2)
    consumer.waiting = [created(f"j{i}", T0) for i in range(5)]
    service._last_commit -= 1
    service.step()
    # Then the next wake-up is already past: the next step polls without waiting
    next_ms = service.buckets.next_due_ms()
    assert next_ms is not None and next_ms <= to_ms(clock.now())


def test_an_unreadable_entry_in_the_store_is_recorded_and_the_step_goes_on(tmp_path: Path) -> None:
    # Given two jobs due now in the store, one of whose stored bytes do not decode
    clock = FixedClock(T0)
    service, consumer, producer = timer(tmp_path, clock)
    consumer.waiting = [created("good", T0 + timedelta(seconds=5)), created("bad", T0 + timedelta(seconds=5))]
    service._last_commit -= 1
    service.step()
    row = service.store.get(0, "bad")
    assert row is not None
    service.store.write(0, [("bad", Row(b'{"tenant": "t1", "job_id": 7}', row.wake_ms, None))])
    service.near_cache.clear()

    # When their time comes
    clock.advance(5)
    service.step()

    # Then the good one fired, the bad one is recorded (with its tenant) and tombstoned in the same transaction
    last = producer.committed[-1]
    events = events_of(last)
    assert [e.job_id for e in events if isinstance(e, JobDue)] == ["good"]
    [failed] = [e for e in events if isinstance(e, JobFireFailed)]
    assert (failed.job_id, failed.tenant, failed.entry_key) == ("bad", "t1", "bad")
    assert ("p.timer-state", None) in [(topic, value) for topic, value, kwargs in last if kwargs["key"] == b"bad"]
    # And it is disarmed: it never comes back
    clock.advance(60)
    service.step()
    assert service.store.get(0, "bad") is None and "bad" not in service.buckets


def test_a_step_over_its_cap_fires_each_tenants_due_entry_whether_from_the_store_or_an_event(tmp_path: Path) -> None:
    # Given a timer with a cap of 5 a step, 20 of tenant "big"'s jobs due now in its store (as after a restart), armed
    # from the store's wake index, and tenant "small"'s job created due a moment later
    clock = FixedClock(T0)
    service, consumer, producer = timer(tmp_path, clock, timer_fire_max_entries=5)
    big = [entry(f"big{i:02}", T0 - timedelta(seconds=1), tenant="big") for i in range(20)]
    service.store.write(0, [(entry.job_id, Row.of(entry)) for entry in big])
    service._arm_waking(0, service.store.waking(0, None, service.loaded_until_ms))
    consumer.waiting = [created("small", T0 + timedelta(milliseconds=100), tenant="small")]
    service._last_commit -= 1

    # When the timer steps
    service.step()
    service.step()

    # Then every step fires at most 5, "small"'s job within the first step that has it due, and "big"'s in due order
    per_step = [[e.job_id for e in events_of(t) if isinstance(e, JobDue)] for t in producer.committed]
    per_step = [step for step in per_step if step]
    assert all(len(step) <= 5 for step in per_step)
    assert "small" in per_step[0]
    assert [job for step in per_step for job in step if job != "small"] == [f"big{i:02}" for i in range(9)]
