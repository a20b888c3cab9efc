"""The bad-record helper: what a set-aside record holds, and that it goes into the caller's transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chronohook.kafka.dead_records import (
    MAX_KEPT_HEADER_BYTES,
    MAX_KEPT_VALUE_BYTES,
    dead_record,
    produce_dead_record,
    reason_of,
    set_aside_counts,
)
from chronohook.kafka.records import Record
from schemas import CodecError
from schemas.dead_records import MAX_REASON_CHARS, DeadRecord

T0 = datetime(2026, 4, 10, 14, 5, 30, tzinfo=UTC)


def bad(value: bytes | None = b"{not json", headers: tuple[tuple[str, bytes | None], ...] = ()) -> Record:
    return Record("p.job-events", 2, 41, b"rj_1", value, "JobDue", headers or (("type", b"JobDue"),))


def test_a_dead_record_keeps_the_bytes_and_says_where_from_and_why() -> None:
    # Given a record that did not decode
    record = bad()

    # When it is made into a dead record
    key, value, headers = dead_record(record, "executor", CodecError("not JSON"), T0)

    # Then key, value and the source's headers are as they came, and ours say where from and why
    assert key == b"rj_1" and value == b"{not json"
    assert headers[0] == ("type", b"JobDue")
    info = DeadRecord.from_headers(headers)
    assert info == DeadRecord(
        source_topic="p.job-events",
        source_partition=2,
        source_offset=41,
        consumer="executor",
        reason="CodecError: not JSON",
        dead_at=T0,
    )


def test_a_source_header_posing_as_ours_is_dropped() -> None:
    # Given a record whose producer set a header in our namespace
    record = bad(headers=(("type", b"x"), ("chronohook.dead.source-offset", b"999")))

    # When it is set aside
    _, _, headers = dead_record(record, "timer", "why", T0)

    # Then only ours says where it came from
    assert DeadRecord.from_headers(headers).source_offset == 41
    assert [v for n, v in headers if n == "chronohook.dead.source-offset"] == [b"41"]


def test_the_reason_is_capped() -> None:
    # Given an error whose message quotes a huge record
    error = ValueError("x" * 50_000)

    # When it becomes a reason
    reason = reason_of(error)

    # Then it is cut to the cap, and the model takes it
    assert len(reason) == MAX_REASON_CHARS and reason.startswith("ValueError: xxx")
    assert DeadRecord.from_headers(dead_record(bad(), "timer", error, T0)[2]).reason == reason


def test_a_value_too_large_to_fit_beside_our_headers_is_cut_and_its_length_kept() -> None:
    # Given a record at the broker's limit
    record = bad(value=b"v" * (MAX_KEPT_VALUE_BYTES + 10))

    # When it is set aside
    _, value, headers = dead_record(record, "projector", "too big", T0)

    # Then its value is cut and the original length said
    assert value is not None and len(value) == MAX_KEPT_VALUE_BYTES
    assert DeadRecord.from_headers(headers).value_bytes == MAX_KEPT_VALUE_BYTES + 10


def test_a_tombstone_is_set_aside_as_one() -> None:
    # Given a record with no value
    _, value, headers = dead_record(bad(value=None), "timer", "no value", T0)

    # Then none is produced, and no length claimed
    assert value is None and DeadRecord.from_headers(headers).value_bytes is None


class RecordingProducer:
    def __init__(self, full_once: bool = False) -> None:
        self.produced: list[tuple[str, Any, dict[str, Any]]] = []
        self.full_once = full_once
        self.polls = 0

    def produce(self, topic: str, value: Any, **kwargs: Any) -> None:
        if self.full_once:
            self.full_once = False
            raise BufferError("queue full")
        self.produced.append((topic, value, kwargs))

    def poll(self, _timeout: float) -> int:
        self.polls += 1
        return 0


def test_produce_into_a_transaction_waits_out_a_full_queue_and_counts() -> None:
    # Given a transactional producer whose local queue is full once
    producer = RecordingProducer(full_once=True)
    before = set_aside_counts().get("timer-test", 0)

    # When a record is set aside into it
    produce_dead_record(producer, "p.dead-records", bad(), "timer-test", TypeError("boom"), T0)

    # Then it was produced to the dead-records topic with its key, after a poll, and counted
    [(topic, value, kwargs)] = producer.produced
    assert topic == "p.dead-records" and value == b"{not json" and kwargs["key"] == b"rj_1"
    assert producer.polls == 1
    assert set_aside_counts()["timer-test"] == before + 1


def test_source_headers_past_the_budget_are_left_out_and_counted() -> None:
    # Given a record with many large headers
    many = tuple((f"h{i}", b"x" * 1024) for i in range(40))
    record = bad(headers=(("type", b"JobDue"), *many))

    # When it is set aside
    _, _, headers = dead_record(record, "executor", "why", T0)

    # Then the first ones are kept within the budget, and ours say how many were left out
    kept = [name for name, _ in headers if not name.startswith("chronohook.dead.")]
    assert kept[0] == "type" and 0 < len(kept) < 41
    assert sum(len(v or b"") for n, v in headers if n in kept) <= MAX_KEPT_HEADER_BYTES
    assert DeadRecord.from_headers(headers).headers_dropped == 41 - len(kept)
