"""The codec between topic bytes and events: every type round-trips, anything else is a CodecError."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from schemas.codec import CodecError, EventCodec, decode_event, encode_event
from schemas.events import (
    CURRENT_VERSIONS,
    EVENT_TYPES,
    Alert,
    AlertAbandoned,
    AlertDelivered,
    AlertDeliveryFailed,
    AlertDestinationCleared,
    AlertDestinationSet,
    AlertDue,
    AlertRaised,
    AlertRetryScheduled,
    CallbackAbandoned,
    CallbackDue,
    CallbackFailed,
    CallbackRetryScheduled,
    CallbackSucceeded,
    DeadLetterReplayed,
    Envelope,
    HttpRequestSpec,
    JobCreated,
    JobDeadLettered,
    JobDeleted,
    JobDue,
    JobFailed,
    JobFireFailed,
    JobPaused,
    JobPurged,
    JobPushed,
    JobResumed,
    JobRetryChainResolved,
    JobRetryScheduled,
    JobRunCancelled,
    JobScheduled,
    JobSucceeded,
    JobUpdated,
    OccurrencesMissed,
    QueueOutcome,
    QueueSettings,
    QueueSettingsChanged,
    RetryPolicy,
    RunOutcome,
    SuccessAssertion,
)

T0 = datetime(2026, 4, 10, 14, 5, 0, tzinfo=UTC)
REQUEST = HttpRequestSpec(
    method="POST", url="https://example.com/hook", headers={"X-A": "1"}, body='{"a":1}', timeout_seconds=12.5
)
BASE: dict[str, object] = {"event_id": "evt_1", "job_id": "rj_847", "tenant": "t1", "occurred_at": T0}
OUTCOME = RunOutcome(
    run_id="rj_847:1:1",
    attempt=1,
    due_at=T0,
    started_at=T0,
    finished_at=T0 + timedelta(milliseconds=42),
    duration_ms=42.0,
    request_headers={"User-Agent": "chronohook/0.1"},
    request_body='{"a":1}',
    response_status=500,
    response_headers={"Content-Type": "text/plain"},
    response_body="boom",
)


ALERT = Alert(
    kind="warning", job_id="rc_9", cron_id=9, name="c", consecutive_failures=1, alert_threshold=2,
    run_id="rc_9:1:1", response_status=500, failure_reason="http_server_error", raised_at=T0,
)  # fmt: skip


def every_event() -> list[Envelope]:
    return [
        JobCreated(
            **BASE, api="quedup", name="Backup", request=REQUEST, schedule="0 12 * * *",
            retry=RetryPolicy(delays=(0, 0, 300)), callback_url="https://example.com/cb",
        ),
        JobCreated(**BASE, api="recuro_cron", name="c", request=REQUEST, run_at=T0, active=False, integer_id=9),
        JobCreated(
            **BASE, api="quedup", name="ny", request=REQUEST, schedule="0 0 9 * * *", timezone="America/New_York",
            catch_up="skip", next_run_at=T0,
        ),
        JobScheduled(**BASE, next_run_at=T0, reason="resumed", cause_event_id="evt_0"),
        OccurrencesMissed(
            **BASE, missed_from=T0, missed_to=T0, count=1, policy="latest", fired=T0, next_run_at=T0,
        ),
        OccurrencesMissed(
            **BASE, missed_from=T0, missed_to=T0, count=3, policy="skip", fired=None, next_run_at=T0,
        ),
        JobPushed(
            **BASE, integer_id=847, queue="emails", queue_id=12, request=REQUEST, payload={"subject": "Hi"},
            scheduled_at=T0 + timedelta(seconds=300), delay_seconds=300, attempt_number=2, retry_of="rj_846",
        ),
        JobUpdated(**BASE, name="Backup", request=REQUEST, run_at=T0),
        JobPaused(**BASE),
        JobResumed(**BASE),
        JobDeleted(**BASE),
        JobDue(**BASE, run_id="rj_847:1:1", due_at=T0, attempt=2, request=REQUEST, next_run_at=T0),
        JobDue(
            **BASE, run_id="rj_847:1:1", due_at=T0 + timedelta(seconds=2), request=REQUEST, planned_at=T0,
            delayed_by_ms=2000,
        ),
        JobFireFailed(**BASE, entry_key="cb:rj_847:1:1", error="TimerError: boom"),
        JobRunCancelled(**BASE, run_id="rj_847:1:1", reason="paused"),
        JobSucceeded(**BASE, outcome=OUTCOME),
        JobFailed(**BASE, outcome=OUTCOME, failure_reason="http_server_error", error_message="HTTP 500"),
        JobRetryScheduled(
            **BASE, failed_run_id="rj_847:1:1", next_attempt=2, retry_at=T0, retry_job_id="rj_900"
        ),
        JobDeadLettered(**BASE, failed_run_id="rj_847:1:1", attempts=4, final_status="dead_lettered"),
        CallbackDue(
            **BASE, callback_id="cb:rj_847:1:1", run_id="rj_847:1:1", url="https://example.com/cb",
            body='{"type": "job.completed"}', attempt=2, due_at=T0,
        ),
        CallbackSucceeded(
            **BASE, callback_id="cb:rj_847:1:1", attempt=1, started_at=T0, duration_ms=1.5, response_status=204
        ),
        CallbackFailed(
            **BASE, callback_id="cb:rj_847:1:1", attempt=1, started_at=T0, duration_ms=1.5,
            failure_reason="timeout", error_message="timed out",
        ),
        CallbackRetryScheduled(**BASE, callback_id="cb:rj_847:1:1", next_attempt=2, retry_at=T0),
        CallbackAbandoned(**BASE, callback_id="cb:rj_847:1:1", attempts=6, error_message="HTTP 500"),
        JobDeadLettered(**BASE, failed_run_id="rj_847:1:1", attempts=4, final_status="dead_lettered", purge_at=T0),
        JobRetryChainResolved(**BASE, resolution="success", run_id="rj_900:1:2", attempts=2),
        DeadLetterReplayed(**BASE, replay_job_id="rj_901", replay_integer_id=901),
        JobPurged(**BASE, reason="retention"),
        QueueSettingsChanged(
            **BASE, queue="emails", queue_id=12,
            settings=QueueSettings(
                is_active=False, retry_delays=(1, 2), max_parallelism=2, dlq_retention_days=3,
                success_assertions=(SuccessAssertion(type="body_contains", value="ok"),),
            ),
        ),
        QueueOutcome(
            **BASE, queue="emails", queue_id=12, outcome="failed_no_retries", source_job_id="rj_847",
            run_id="rj_847:1:1", attempts=1, response_status=500, failure_reason="http_server_error",
            error_message="HTTP 500",
        ),
        QueueOutcome(**BASE, queue="emails", queue_id=12, outcome="success", source_job_id="rj_847",
                     run_id="rj_900:1:2", attempts=2, response_status=200),
        AlertRaised(**BASE, alert_id="alert:rc_9:1:1", alert=ALERT),
        AlertDue(**BASE, alert_id="alert:rc_9:1:1", alert=ALERT, attempt=2, due_at=T0),
        AlertDelivered(
            **BASE, alert_id="alert:rc_9:1:1", attempt=1, started_at=T0, duration_ms=1.5, response_status=200,
            format="slack",
        ),
        AlertDeliveryFailed(
            **BASE, alert_id="alert:rc_9:1:1", attempt=1, started_at=T0, duration_ms=0.0,
            failure_reason="invalid_url", error_message="no destination", no_destination=True,
        ),
        AlertRetryScheduled(**BASE, alert_id="alert:rc_9:1:1", next_attempt=2, retry_at=T0),
        AlertAbandoned(**BASE, alert_id="alert:rc_9:1:1", attempts=6, error_message="HTTP 500"),
        AlertDestinationSet(**BASE, url="https://hooks.example.com/a", format="slack"),
        AlertDestinationCleared(**BASE),
    ]  # fmt: skip


def test_the_samples_cover_every_event_type() -> None:
    # Given the sample events used below
    # Then every registered event type is among them (a new type must get a round-trip case)
    assert {type(e) for e in every_event()} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", every_event(), ids=lambda e: str(getattr(e, "type", "?")))
def test_every_event_round_trips(event: Envelope) -> None:
    # Given an event
    # When it is encoded to bytes and decoded again
    data = encode_event(event)
    decoded = decode_event(data)

    # Then the same event comes back, with its concrete type and its type's current schema version
    assert decoded == event
    assert type(decoded) is type(event)
    assert json.loads(data)["schema_version"] == CURRENT_VERSIONS[type(event).__name__]
    # And decoding from text works the same as from bytes
    assert decode_event(data.decode()) == event


def test_the_codec_object_is_the_same_codec() -> None:
    # Given an event encoded by the functions
    event = JobPaused(**BASE)
    # Then the object form encodes and decodes identically
    assert EventCodec.encode(event) == encode_event(event)
    assert EventCodec.decode(EventCodec.encode(event)) == event


def _doc() -> dict[str, object]:
    doc: dict[str, object] = json.loads(encode_event(JobPaused(**BASE)))
    return doc


def _bad_docs() -> dict[str, bytes]:
    unknown_type = _doc() | {"type": "JobExploded"}
    future = _doc() | {"schema_version": CURRENT_VERSIONS["JobPaused"] + 1}
    zero = _doc() | {"schema_version": 0}
    text_version = _doc() | {"schema_version": "1"}
    missing = _doc()
    del missing["tenant"]
    naive_time = _doc() | {"occurred_at": "2026-04-10T14:05:00"}
    extra = _doc() | {"surprise": True}
    no_type = _doc()
    del no_type["type"]
    return {
        "bad json": b"{not json",
        "not utf-8": b"\xff\xfe\x00",
        "array": b"[1, 2]",
        "string": b'"JobPaused"',
        "null": b"null",
        "unknown type": json.dumps(unknown_type).encode(),
        "no type": json.dumps(no_type).encode(),
        "future version": json.dumps(future).encode(),
        "version zero": json.dumps(zero).encode(),
        "version as text": json.dumps(text_version).encode(),
        "missing field": json.dumps(missing).encode(),
        "naive timestamp": json.dumps(naive_time).encode(),
        "extra field": json.dumps(extra).encode(),
    }


@pytest.mark.parametrize(("case", "data"), list(_bad_docs().items()), ids=list(_bad_docs()))
def test_invalid_bytes_raise_codec_error(case: str, data: bytes) -> None:  # noqa: ARG001 - case names the id
    # Given bytes that are not a valid current event
    # When they are decoded
    # Then a CodecError (a ValueError) says so
    with pytest.raises(CodecError):
        decode_event(data)


def test_codec_error_names_the_unsupported_version() -> None:
    # Given a document from a future schema version
    doc = _doc() | {"schema_version": 99}
    # Then the error says which version it could not read
    with pytest.raises(CodecError, match="schema_version 99"):
        decode_event(json.dumps(doc))
