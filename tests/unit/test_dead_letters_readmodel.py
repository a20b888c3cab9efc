"""The dead letters as the projector folds them (through ReadModelStore.apply, on SQLite) and ingest reads them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from chronohook.readmodel.dead_letters import dead_letters_by_id, list_dead_letters, oldest_dead_letters
from chronohook.readmodel.digest import compare
from chronohook.readmodel.store import Consumed, ReadModelStore
from chronohook.store.engine import create_schema, make_engine
from chronohook.store.tables import dead_letters
from schemas.events import (
    DeadLetterReplayed,
    Envelope,
    Event,
    HttpRequestSpec,
    JobDeadLettered,
    JobFailed,
    JobPurged,
    JobPushed,
    JobRetryScheduled,
    RunOutcome,
)

T0 = datetime(2026, 4, 10, 14, 5, 30, tzinfo=UTC)
S = timedelta(seconds=1)
REQUEST = HttpRequestSpec(method="POST", url="http://127.0.0.2:9/fails", body='{"a":1}')
QUEUE_ID = 12


class Log:
    """Events appended in order, applied by the store as one partition."""

    def __init__(self, store: ReadModelStore) -> None:
        self.store = store
        self.offset = 0
        self.n = 0

    def apply(self, *events: Envelope) -> None:
        batch = []
        for event in events:
            batch.append(Consumed("events", 0, self.offset, event))  # type: ignore[arg-type]
            self.offset += 1
        self.store.apply("projector", batch, T0)

    def env(self, job_id: str, at: datetime, tenant: str = "t1") -> dict[str, Any]:
        self.n += 1
        return {"event_id": f"evt_{self.n:024x}", "job_id": job_id, "tenant": tenant, "occurred_at": at}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ReadModelStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'rm.db'}")
    create_schema(engine)
    try:
        yield ReadModelStore(engine)
    finally:
        engine.dispose()


def _run(job_id: str, attempt: int, at: datetime) -> RunOutcome:
    return RunOutcome(
        run_id=f"{job_id}:{int(at.timestamp() * 1000)}:{attempt}",
        attempt=attempt,
        due_at=at,
        started_at=at,
        finished_at=at + S,
        duration_ms=1000.0,
        request_headers={},
        request_body=REQUEST.body,
        response_status=500,
        response_body="nope",
    )


def chain(log: Log, original: int, queue: str = "emails", tenant: str = "t1", retries_enabled: bool = True) -> str:
    """A Recuro job and its two retries, every attempt failing, dead-lettered on the original. Returns its key."""
    events = chain_events(log, original, queue, tenant, retries_enabled)
    log.apply(*events)
    return events[0].job_id


def chain_events(
    log: Log, original: int, queue: str = "emails", tenant: str = "t1", retries_enabled: bool = True
) -> list[Event]:
    """The events of ``chain``, in log order, not applied."""
    keys = [f"rj_{original}", f"rj_{original}1", f"rj_{original}2"]
    events: list[Event] = []
    last_run = ""
    for attempt, key in enumerate(keys, start=1):
        at = T0 + attempt * 10 * S
        events.append(
            JobPushed(
                **log.env(key, at, tenant),
                integer_id=int(key.removeprefix("rj_")), queue=queue, queue_id=QUEUE_ID, request=REQUEST,
                scheduled_at=at, attempt_number=attempt, retry_of=None if attempt == 1 else keys[0],
            )
        )  # fmt: skip
        outcome = _run(key, attempt, at)
        last_run = outcome.run_id
        events.append(
            JobFailed(
                **log.env(key, at + S, tenant),
                outcome=outcome,
                failure_reason="http_server_error",
                error_message="HTTP 500",
            )
        )
        if attempt < len(keys):
            events.append(
                JobRetryScheduled(
                    **log.env(key, at + S, tenant),
                    failed_run_id=outcome.run_id, next_attempt=attempt + 1, retry_at=at + 10 * S,
                    retry_job_id=keys[attempt],
                )
            )  # fmt: skip
    events.append(
        JobDeadLettered(
            **log.env(keys[0], T0 + 40 * S, tenant),
            failed_run_id=last_run, attempts=3, purge_at=T0 + timedelta(days=14),
            final_status="dead_lettered" if retries_enabled else "failed_no_retries",
        )
    )  # fmt: skip
    return events


def test_an_exhausted_chain_is_listed_once_on_its_original_with_the_last_failure(store: ReadModelStore) -> None:
    # Given a job whose three attempts failed, dead-lettered on the original
    log = Log(store)
    key = chain(log, 101)
    # When the tenant lists its dead letters
    letters, total = list_dead_letters(store.engine, "t1", None, 15, 0)
    # Then it is there once, with the original's id, its queue, attempts and the last run's failure
    assert total == 1
    [letter] = letters
    assert (letter.job_id, letter.integer_id, letter.queue, letter.attempts) == (key, 101, "emails", 3)
    assert letter.dead_lettered_at == T0 + 40 * S and letter.purge_at == T0 + timedelta(days=14)
    assert letter.last_run is not None and letter.last_run.job_id == "rj_1012"
    assert letter.last_run.failure_reason == "http_server_error" and letter.last_run.response_status == 500
    # And another tenant sees none of it
    assert list_dead_letters(store.engine, "t2", None, 15, 0) == ([], 0)
    assert dead_letters_by_id(store.engine, "t2", [key]) == {}


def test_failed_no_retries_is_not_a_dead_letter(store: ReadModelStore) -> None:
    # Given a chain dead-lettered with retries off (Recuro's failed_no_retries)
    chain(Log(store), 102, retries_enabled=False)
    # Then nothing is listed
    assert list_dead_letters(store.engine, "t1", None, 15, 0) == ([], 0)


def test_the_list_is_newest_first_filters_by_queue_and_pages(store: ReadModelStore) -> None:
    # Given three dead letters, dead-lettered one after another, two in "emails" and one in "sms" (another queue id)
    log = Log(store)
    a = chain(log, 201)
    b = chain(log, 202)
    c = chain(log, 203, queue="sms")
    with store.engine.begin() as conn:  # the sms one in its own queue id, later than the others
        conn.execute(
            dead_letters.update()
            .where(dead_letters.c.job_id == c)
            .values(queue_id=99, dead_lettered_at=T0 + timedelta(minutes=5))
        )
        conn.execute(
            dead_letters.update().where(dead_letters.c.job_id == b).values(dead_lettered_at=T0 + timedelta(minutes=1))
        )
    # When listing all, one queue, and a page of one
    every, total = list_dead_letters(store.engine, "t1", None, 15, 0)
    emails, emails_total = list_dead_letters(store.engine, "t1", QUEUE_ID, 15, 0)
    second, _ = list_dead_letters(store.engine, "t1", None, 1, 1)
    oldest, held = oldest_dead_letters(store.engine, "t1", QUEUE_ID, 1)
    # Then newest first, filtered, paged; the oldest of a queue first for bulk work
    assert [d.job_id for d in every] == [c, b, a] and total == 3
    assert [d.job_id for d in emails] == [b, a] and emails_total == 2
    assert [d.job_id for d in second] == [b]
    assert [d.job_id for d in oldest] == [a] and held == 2


def test_a_replayed_dead_letter_leaves_the_list_and_remembers_its_replay(store: ReadModelStore) -> None:
    # Given a dead letter
    log = Log(store)
    key = chain(log, 301)
    # When it is replayed
    log.apply(
        DeadLetterReplayed(
            **log.env(key, T0 + 60 * S),
            replay_job_id="rj_9001", replay_integer_id=9001,
        )
    )  # fmt: skip
    # Then it is no longer listed, and reading it by id says what it was replayed as
    assert list_dead_letters(store.engine, "t1", None, 15, 0) == ([], 0)
    letter = dead_letters_by_id(store.engine, "t1", [key])[key]
    assert letter.replayed_job_id == "rj_9001" and letter.replayed_at == T0 + 60 * S
    # And the original job is still readable
    assert store.job("t1", key) is not None


def test_a_purge_removes_the_whole_chain_with_its_runs_and_the_dead_letter(store: ReadModelStore) -> None:
    # Given two dead letters
    log = Log(store)
    key = chain(log, 401)
    other = chain(log, 402)
    # When one is purged
    log.apply(JobPurged(**log.env(key, T0 + 60 * S), reason="deleted"))
    # Then it, its retries and all their runs are gone from every read; the other stays
    for member in (key, "rj_4011", "rj_4012"):
        assert store.job("t1", member) is None
        assert store.runs(member) == []
    assert [d.job_id for d in list_dead_letters(store.engine, "t1", None, 15, 0)[0]] == [other]
    assert store.job("t1", other) is not None and len(store.runs("rj_4022")) == 1
    assert dead_letters_by_id(store.engine, "t1", [key]) == {}


def test_a_purge_in_the_same_batch_as_the_dead_letter_leaves_nothing(store: ReadModelStore) -> None:
    # Given a dead letter purged before the projector wrote it (one batch)
    log = Log(store)
    key = chain(log, 501)
    log.apply(
        DeadLetterReplayed(
            **log.env(key, T0 + 60 * S),
            replay_job_id="rj_9002", replay_integer_id=9002,
        ),
        JobPurged(**log.env(key, T0 + 61 * S), reason="retention"),
    )  # fmt: skip
    # Then no row is left
    assert dead_letters_by_id(store.engine, "t1", [key]) == {}
    assert store.job("t1", key) is None


@pytest.mark.parametrize("one_by_one", [False, True])
def test_a_purge_folded_before_a_retrys_push_still_removes_that_retry(store: ReadModelStore, one_by_one: bool) -> None:
    # Given a dead-lettered chain whose retries are keyed apart from the original (other partitions), and its purge
    log = Log(store)
    events = chain_events(log, 601)
    key = events[0].job_id
    purge = JobPurged(**log.env(key, T0 + 60 * S), reason="retention")
    # When a rebuild reads the original's partition, purge included, before the retries' partitions
    log.apply(*[e for e in events if e.job_id == key], purge)
    retries = [e for e in events if e.job_id != key]
    if one_by_one:
        for event in retries:
            log.apply(event)
    else:
        log.apply(*retries)
    # Then the read models are those of the log order: the whole chain is gone, with its runs
    for member in (key, "rj_6011", "rj_6012"):
        assert store.job("t1", member) is None
        assert store.runs(member) == []
    assert dead_letters_by_id(store.engine, "t1", [key]) == {}
    # And a redelivered result of a purged retry brings nothing back
    log.apply(retries[1])
    assert store.job("t1", "rj_6011") is None and store.runs("rj_6011") == []


def test_every_read_model_is_the_same_whichever_partition_a_rebuild_reads_first(tmp_path: Path) -> None:
    # Given one log: a chain dead-lettered then purged, each job in a partition of its own (keyed apart)
    scratch = make_engine("sqlite://")
    try:
        log = Log(ReadModelStore(scratch))  # for its envelopes; nothing is applied through it
        events: list[Event] = chain_events(log, 701)
        key = events[0].job_id
        events.append(JobPurged(**log.env(key, T0 + 60 * S), reason="retention"))
    finally:
        scratch.dispose()
    partition_of = {job: n for n, job in enumerate(dict.fromkeys(e.job_id for e in events))}
    offsets = dict.fromkeys(partition_of.values(), 0)
    records = []
    for event in events:
        partition = partition_of[event.job_id]
        records.append(Consumed("events", partition, offsets[partition], event))
        offsets[partition] += 1

    def folded(name: str, batches: list[list[Consumed]]) -> Engine:
        engine = make_engine(f"sqlite:///{tmp_path / name}")
        create_schema(engine)
        store = ReadModelStore(engine)
        for batch in batches:
            store.apply("projector", batch, T0)
        return engine

    # When the live projector folds it in log order, and a rebuild reads the original's partition first (purge
    # included), then the retries' one record per batch
    live = folded("live.db", [records])
    first = [r for r in records if r.partition == 0]
    rebuilt = folded("rebuilt.db", [first, *[[r] for r in records if r.partition != 0]])
    try:
        with live.connect() as left, rebuilt.connect() as right:
            differing = [d.table for d in compare(left, right) if not d.equal]
        # Then every read model is equal, the history included
        assert differing == []
    finally:
        live.dispose()
        rebuilt.dispose()
