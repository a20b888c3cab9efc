"""OpenTelemetry tracing: off unless ``CHRONOHOOK_OTLP_ENDPOINT`` is set (decision 0043).

Off, nothing of OpenTelemetry is imported and every hook is a global check: ``span`` hands back one shared
``nullcontext`` and ``current_traceparent`` returns None. On, each process exports its spans over OTLP/HTTP
(protobuf) to ``<endpoint>/v1/traces`` in batches, and a job's W3C trace context (``traceparent``) rides in the
``traceparent`` header of every Kafka record written on its behalf (chronohook/kafka/records.py), and in the
timer's entry while it waits (schemas/changelog.py ``TimerEntry.traceparent``): one trace follows a job from its
API call through the timer's fire, the executor's delivery (with its HTTP call) and its callback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, SpanKind, Tracer

TRACEPARENT: Final = "traceparent"
_NOTHING: Final = contextlib.nullcontext(None)

_tracer: Tracer | None = None


def setup(service: str, endpoint: str | None, sample_ratio: float = 1.0) -> None:
    """Export this process's spans to ``endpoint`` (an OTLP/HTTP collector's base address); None: tracing off."""
    global _tracer
    if endpoint is None or not endpoint.strip():
        _tracer = None
        return
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    provider = TracerProvider(
        resource=Resource.create({"service.name": f"chronohook-{service}"}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")))
    trace.set_tracer_provider(provider)
    _tracer = provider.get_tracer("chronohook")


def use_tracer(tracer: Tracer | None) -> None:
    """Tests: trace into ``tracer`` (an SDK provider's, with an in-memory exporter), or turn tracing off."""
    global _tracer
    _tracer = tracer


def enabled() -> bool:
    return _tracer is not None


def current_traceparent() -> str | None:
    """The current span's context as a W3C ``traceparent`` value; None when off or outside any span."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def traceparent_in(headers: Iterable[tuple[str, bytes | str | None]]) -> str | None:
    """The ``traceparent`` header among a record's (or a request's) headers, as text; None if absent or not text."""
    for name, value in headers:
        if name == TRACEPARENT and value is not None:
            if isinstance(value, str):
                return value
            try:
                return value.decode("ascii")
            except UnicodeDecodeError:
                return None
    return None


def _parent(traceparent: str | None) -> Context | None:
    if traceparent is None:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract({TRACEPARENT: traceparent})


def span(
    name: str, parent: str | None = None, kind: str = "INTERNAL", attributes: dict[str, Any] | None = None
) -> contextlib.AbstractContextManager[Span | None]:
    """A span made current for the ``with`` block, child of ``parent`` (a traceparent) or of the current span;
    ``kind``: a ``SpanKind`` name. Off: a shared no-op context giving None."""
    if _tracer is None:
        return _NOTHING
    return _tracer.start_as_current_span(name, context=_parent(parent), kind=_kind(kind), attributes=attributes)


def start_span(name: str, parent: str | None, kind: str = "INTERNAL") -> Span | None:
    """A span not made current (the caller ends it), child of ``parent``; None when off."""
    if _tracer is None:
        return None
    return _tracer.start_span(name, context=_parent(parent), kind=_kind(kind))


def traceparent_of(span_: Span | None) -> str | None:
    if span_ is None:
        return None
    ctx = span_.get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def _kind(name: str) -> SpanKind:
    from opentelemetry.trace import SpanKind

    return SpanKind[name]


@contextlib.contextmanager
def ended(spans: list[Span]) -> Iterator[None]:
    """End every span in ``spans`` when the block ends (an error recorded on each if it raised)."""
    try:
        yield
    except BaseException as exc:
        for s in spans:
            s.record_exception(exc)
        raise
    finally:
        for s in spans:
            s.end()
