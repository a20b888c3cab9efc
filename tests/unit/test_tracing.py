"""Tracing (decision 0043): off, nothing happens; on, the trace context rides in record headers and timer entries,
and the ingest request, the timer's fire and the executor's HTTP call are spans of one trace."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chronohook import tracing
from chronohook.clock import FixedClock
from chronohook.kafka.records import Record, record_of
from chronohook.outbound.sender import SendResult
from schemas.changelog import TimerEntry
from schemas.events import HttpRequestSpec, JobDue
from services.executor.tracing import TracedSender, handling
from services.timer.tracing import stamped
from tests.unit.test_dead_records_timer import Msg
from tests.unit.test_timer_firing import T0, created, timer

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACE_ID = int("0af7651916cd43dd8448eb211c80319c", 16)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, into memory, for one test; off again afterwards."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_tracer(provider.get_tracer("test"))
    yield exporter
    tracing.use_tracer(None)
    provider.shutdown()


def named(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    [found] = [s for s in exporter.get_finished_spans() if s.name == name]
    return found


def test_off_every_hook_is_a_no_op() -> None:
    # Given tracing off (no endpoint) / Then spans are a shared no-op, no context is current, nothing is wrapped
    tracing.setup("test", None)
    assert not tracing.enabled()
    with tracing.span("x") as span:
        assert span is None
        assert tracing.current_traceparent() is None
    assert tracing.start_span("x", PARENT) is None
    # And a record carries its type header alone
    _, _, headers = record_of(due())
    assert [name for name, _ in headers] == ["type"]


def test_a_span_continues_the_parent_it_is_given_and_records_carry_it(spans: InMemorySpanExporter) -> None:
    # Given tracing on / When a span is opened under a caller's traceparent
    with tracing.span("ingest request", PARENT, kind="SERVER"):
        traceparent = tracing.current_traceparent()
        _, _, headers = record_of(due(), traceparent)
    # Then it is in the caller's trace, and the record written inside it carries its context
    span = named(spans, "ingest request")
    assert span.context is not None and span.context.trace_id == TRACE_ID
    assert (tracing.TRACEPARENT, f"00-{TRACE_ID:032x}-{span.context.span_id:016x}-01".encode()) in headers
    assert tracing.traceparent_in(headers) == traceparent


def test_the_timer_keeps_a_definition_s_context_and_fires_in_its_trace(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    # Given a job created by an API call whose record carries its trace context
    clock = FixedClock(T0)
    service, consumer, producer = timer(tmp_path, clock)
    msg = created("j1", T0 + timedelta(seconds=5))
    consumer.waiting = [Msg(msg._topic, 0, 2, msg._key, msg._value, [*msg._headers, ("traceparent", PARENT.encode())])]
    service._last_commit -= 1
    service.step()
    # Then the entry keeps it
    entry = service.store.get(0, "j1")
    assert entry is not None and isinstance(entry.entry(), TimerEntry)
    assert entry.entry().traceparent == PARENT  # type: ignore[union-attr]
    # When the job falls due, long after, and the timer fires it
    clock.advance(5)
    service.near_cache.clear()
    service.step()
    # Then its JobDue's record carries a `timer fire` span's context, a child of the API call's, in its trace
    fire = named(spans, "timer fire")
    assert fire.context is not None and fire.context.trace_id == TRACE_ID
    assert fire.parent is not None and fire.parent.span_id == int(PARENT.split("-")[2], 16)
    [job_due] = [kw for step in producer.committed for _, _, kw in step if (b"type", b"JobDue") in _typed(kw)]
    assert tracing.traceparent_in(job_due["headers"]) == f"00-{TRACE_ID:032x}-{fire.context.span_id:016x}-01"


def _typed(kwargs: dict[str, object]) -> list[tuple[bytes, bytes]]:
    headers = kwargs.get("headers") or []
    return [(str(n).encode(), v) for n, v in headers if isinstance(v, bytes)]  # type: ignore[attr-defined]


def test_a_record_without_trace_context_changes_nothing() -> None:
    # Given decided changes for a record with its type header alone / Then they come back as they were
    entry = _entry()
    decided: tuple[dict[str, object], list[object]] = ({"j1": entry}, [])
    record = Record("t", 0, 1, b"j1", b"{}", "JobCreated", (("type", b"JobCreated"),))
    assert stamped(record, decided) is decided  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("record_type", "before", "after"),
    [
        ("JobCreated", None, PARENT),  # a definition stamps a new entry
        ("JobUpdated", "00-" + "1" * 32 + "-" + "2" * 16 + "-01", PARENT),  # and a new definition restamps it
        ("JobSucceeded", "00-" + "1" * 32 + "-" + "2" * 16 + "-01", None),  # a result keeps the definition's
    ],
)
def test_stamping_follows_definitions(record_type: str, before: str | None, after: str | None) -> None:
    # Given an entry changed by a record carrying a trace context
    entry = _entry(before)
    record = Record(
        "t", 0, 1, b"j1", b"{}", record_type, (("type", record_type.encode()), ("traceparent", PARENT.encode()))
    )
    # When stamped
    changes, _ = stamped(record, ({"j1": entry}, []))
    # Then the entry's context is the definition's
    new = changes["j1"]
    assert isinstance(new, TimerEntry) and new.traceparent == (after or before)


def test_the_executor_s_handling_and_http_call_are_spans_of_the_record_s_trace(spans: InMemorySpanExporter) -> None:
    # Given a JobDue record carrying the timer's context, and a sender answering 200
    record = Record("t", 0, 1, b"j1", b"{}", "JobDue", (("type", b"JobDue"), ("traceparent", PARENT.encode())))

    class Answers:
        async def send(self, request: HttpRequestSpec, headers: dict[str, str]) -> SendResult:  # noqa: ARG002
            return SendResult(0.0, 1.0, status=200)

        async def close(self) -> None:
            pass

    sender = TracedSender(Answers())

    # When the executor handles it and sends
    async def handle() -> None:
        with handling(record):
            await sender.send(HttpRequestSpec(method="POST", url="http://127.0.0.1:9/hook?token=x"), {})

    asyncio.run(handle())
    # Then `executor delivery` continues the record's trace and the HTTP call is its child, naming the host only
    delivery, call = named(spans, "executor delivery"), named(spans, "HTTP POST")
    assert delivery.context is not None and delivery.context.trace_id == TRACE_ID
    assert call.parent is not None and call.parent.span_id == delivery.context.span_id
    assert call.attributes is not None and call.attributes["server.address"] == "127.0.0.1"
    assert call.attributes["http.response.status_code"] == 200
    assert "token" not in str(dict(call.attributes))


def due() -> JobDue:
    return JobDue(
        event_id="evt_1", job_id="j1", tenant="t1", occurred_at=T0, run_id="j1:0:1", due_at=T0,
        request=HttpRequestSpec(method="GET", url="http://127.0.0.2:9/x"),
    )  # fmt: skip


def _entry(traceparent: str | None = None) -> TimerEntry:
    from schemas.events import RetryPolicy

    return TimerEntry(
        job_id="j1", tenant="t1", api="quedup", request=HttpRequestSpec(method="GET", url="http://127.0.0.2:9/x"),
        retry=RetryPolicy(), next_due=T0, traceparent=traceparent,
    )  # fmt: skip


def test_off_the_services_load_no_opentelemetry_module() -> None:
    # Given a fresh interpreter / When the timer, executor and projector and the command are imported
    code = (
        "import sys; import chronohook.cli, services.timer.service, services.executor.service, "
        "services.projector.service; print([m for m in sys.modules if m.startswith('opentelemetry')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    # Then none of OpenTelemetry is loaded: tracing off costs no import, no memory
    assert out.strip() == "[]"
