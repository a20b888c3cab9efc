"""One trace per job (decision 0043), exported to a local OTLP collector: the API call, the timer's fire of its
``JobDue``, the executor's delivery and the callback share one trace id. The stack runs with JSON logs, and every
line each service wrote parses as JSON."""

from __future__ import annotations

import http.server
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from chronohook.kafka.config import consumer_config
from chronohook.kafka.records import read_record
from chronohook.kafka.topics import Topics
from chronohook.settings import Settings
from chronohook.store.engine import create_schema, make_engine
from chronohook.store.tokens import create_token
from chronohook.tracing import traceparent_in
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.support.receiver import Receiver
from tests.support.services import running_services, services_env

pytestmark = pytest.mark.kafka


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    service: str
    attributes: dict[str, str]


class Collector:
    """An OTLP/HTTP collector on loopback: keeps every span POSTed to /v1/traces (protobuf)."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self._lock = threading.Lock()
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/v1/traces":
                    collector._take(body)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args: object) -> None:
                return None

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 1024
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _take(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        found = []
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    found.append(
                        Span(
                            s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(), s.name,
                            resource.get("service.name", ""), {a.key: a.value.string_value for a in s.attributes},
                        )
                    )  # fmt: skip
        with self._lock:
            self.spans.extend(found)

    def trace_of(self, name: str, job_id: str) -> list[Span] | None:
        """Every span of the trace that holds span ``name`` about ``job_id``; None until it has arrived."""
        with self._lock:
            spans = list(self.spans)
        marks = [s for s in spans if s.name == name and s.attributes.get("chronohook.job_id") == job_id]
        if not marks:
            return None
        return [s for s in spans if s.trace_id == marks[0].trace_id]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    c = Collector()
    try:
        yield c
    finally:
        c.close()


@dataclass
class TracedStack:
    base_url: str
    token: str
    settings: Settings
    logs: Path


@pytest.fixture(scope="module")
def traced_stack(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, receiver: Receiver, collector: Collector
) -> Iterator[TracedStack]:
    """The four services exporting their spans to the collector, with JSON logs, on a fresh topic prefix."""
    data_dir = tmp_path_factory.mktemp("traced")
    settings = Settings(
        data_dir=data_dir, kafka_bootstrap=kafka_bootstrap, api_port=free_port(),
        topic_prefix=f"test-{secrets.token_hex(4)}", partitions=3,
    )  # fmt: skip
    engine = make_engine(settings.resolved_database_url)
    create_schema(engine)
    token = create_token(engine, "tenant-a")
    engine.dispose()
    env = services_env(data_dir, kafka_bootstrap, settings.api_port, settings.topic_prefix)
    # Spans leave each process every 200 ms rather than 5 s: the test waits less.
    env.update(CHRONOHOOK_OTLP_ENDPOINT=collector.url, CHRONOHOOK_LOG_FORMAT="json", OTEL_BSP_SCHEDULE_DELAY="200")
    with running_services(env, data_dir, token, receiver, "/warmup-traced"):
        yield TracedStack(f"http://127.0.0.1:{settings.api_port}", token, settings, data_dir / "logs")


def test_one_trace_spans_the_api_call_the_job_due_the_delivery_and_the_callback(
    traced_stack: TracedStack, receiver: Receiver, collector: Collector
) -> None:
    # Given a stack exporting its spans to a local OTLP collector
    # When a job with a completion callback is created through the API
    with httpx.Client(base_url=traced_stack.base_url, headers={"Authorization": f"Bearer {traced_stack.token}"}) as c:
        r = c.post(
            "/api/jobs",
            json={"queue": "traced", "url": receiver.url("/traced-job"), "callback_url": receiver.url("/traced-cb")},
        )
    assert r.status_code == 201, r.text
    job_id = f"rj_{r.json()['job_id']}"
    receiver.wait_for(lambda q: q.path == "/traced-cb", timeout=60)

    # Then one trace holds the API call, the timer's fire, the delivery with its HTTP call, and the callback
    trace = eventually(
        lambda: _complete(collector.trace_of("callback", job_id)), timeout=30, what="the job's whole trace"
    )
    names = {(s.service, s.name) for s in trace}
    assert ("chronohook-ingest", "ingest POST /api/jobs") in names
    assert ("chronohook-timer", "timer fire") in names
    assert ("chronohook-executor", "executor delivery") in names
    assert ("chronohook-executor", "callback") in names
    assert sum(1 for s in trace if s.name == "HTTP POST") == 2  # the job's request and the callback's
    # And each span hangs from another of the trace but the API call's, its root
    ids = {s.span_id for s in trace}
    assert [s.name for s in trace if s.parent_id not in ids] == ["ingest POST /api/jobs"]
    # And the JobDue record itself carries the trace in its traceparent header
    assert _job_due_trace(traced_stack.settings, job_id) == trace[0].trace_id


def _complete(trace: list[Span] | None) -> list[Span] | None:
    """The trace once every span is in (each process exports on its own schedule)."""
    if trace is None:
        return None
    names = {s.name for s in trace}
    wanted = {"ingest POST /api/jobs", "timer fire", "executor delivery", "callback", "HTTP POST"}
    return trace if wanted <= names and sum(1 for s in trace if s.name == "HTTP POST") >= 2 else None


def _job_due_trace(settings: Settings, job_id: str, timeout: float = 30.0) -> str:
    """The trace id in the traceparent header of ``job_id``'s JobDue record on the job log."""
    topic = Topics.from_settings(settings).events
    consumer = Consumer(consumer_config(settings, f"test-trace-{job_id}"))
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(settings.partitions)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            record = None if msg is None or msg.error() else read_record(msg)
            if record is not None and record.key == job_id.encode() and record.type == "JobDue":
                traceparent = traceparent_in(record.headers)
                assert traceparent is not None, "a JobDue without its trace context"
                return traceparent.split("-")[1]
        raise AssertionError(f"no JobDue for {job_id} within {timeout} s")
    finally:
        consumer.close()


def test_with_json_logs_every_line_every_service_wrote_parses(traced_stack: TracedStack) -> None:
    # Given the stack above, run with CHRONOHOOK_LOG_FORMAT=json, having served requests and delivered jobs
    # When each service's output is read
    lines = [(path.name, line) for path in traced_stack.logs.glob("*.log") for line in path.read_text().splitlines()]
    # Then there is output from each, and every line is one JSON object
    assert {name for name, _ in lines} >= {"ingest.log", "timer.log", "executor.log", "projector.log"}
    for name, line in lines:
        assert isinstance(json.loads(line), dict), f"{name}: {line}"
    # And the API's requests have access-log lines, without the token
    access = [json.loads(line) for name, line in lines if name == "ingest.log" and "chronohook.access" in line]
    assert any(a["method"] == "POST" and a["path"] == "/api/jobs" and a["status"] == 201 for a in access)
    assert all(traced_stack.token not in line for _, line in lines)
