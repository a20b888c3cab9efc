"""Metrics (decision 0042): bounded queue labels, one port per service process, /metrics and /livez, and the API's
counters pooled across its worker processes."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from chronohook.heartbeats import Pulse
from chronohook.metrics import REFUSALS, MetricsServer, QueueLabels
from chronohook.metrics_ports import child_port, metrics_url, planned
from chronohook.outbound.sender import SendResult
from chronohook.supervisor import Supervisor
from schemas.events import HttpRequestSpec, JobDue
from services.executor.metrics import DELIVERED, FAILED, LATENESS, RunMetrics
from tests.unit.test_ingest_api import NOW


@pytest.mark.parametrize(
    ("queue", "label"),
    [("emails", "emails"), ("reports", "reports"), ("acme-payroll", "other"), (None, "none"), ("", "other")],
)
def test_a_queue_is_its_own_label_only_when_listed(queue: str | None, label: str) -> None:
    # Given CHRONOHOOK_METRICS_QUEUES=emails, reports
    labels = QueueLabels(["emails", " reports", ""])
    # Then a listed queue is itself, any other "other", none "none": the label set is bounded and names no tenant's
    # queue unless the operator listed it
    assert labels(queue) == label
    assert labels.values == ["emails", "reports", "other", "none"]


def test_at_most_fifty_queues_are_labelled() -> None:
    labels = QueueLabels([f"q{i}" for i in range(80)])
    assert len(labels.values) == 52 and labels("q60") == "other"


@pytest.mark.parametrize(
    ("name", "port"),
    [
        ("timer", 9401),
        ("projector", 9402),
        ("executor", 9403),
        ("executor-1", 9403),
        ("executor-3", 9405),
        ("ingest", None),
        ("ingest-2", None),
    ],
)
def test_each_service_process_has_a_port_of_its_own(name: str, port: int | None) -> None:
    assert child_port(9400, name) == port


def test_no_metrics_ports_with_base_zero() -> None:
    assert child_port(0, "timer") is None and planned(0, 3) == {}


def test_dev_plans_one_port_per_process() -> None:
    assert planned(9400, 3) == {
        "timer": 9401, "projector": 9402, "executor-1": 9403, "executor-2": 9404, "executor-3": 9405,
    }  # fmt: skip
    assert metrics_url("0.0.0.0", 9401) == "http://127.0.0.1:9401/metrics"


def test_the_supervisor_gives_ports_to_services_and_a_shared_directory_to_api_workers() -> None:
    # Given a supervisor for two API workers and two executors, base port 9500
    supervisor = Supervisor(env={"CHRONOHOOK_METRICS_BASE_PORT": "9500"}, api_workers=2, executors=2)
    supervisor.api_metrics_dir = Path("/tmp/m")
    # When it plans its children
    env = {name: e for service in ("timer", "executor", "ingest") for name, e in supervisor._instances(service)}
    # Then each service process has its own port and every API worker the one directory
    assert env["timer"]["CHRONOHOOK_METRICS_PORT"] == "9501"
    assert [env[f"executor-{i}"]["CHRONOHOOK_METRICS_PORT"] for i in (1, 2)] == ["9503", "9504"]
    assert {env[f"ingest-{i}"]["CHRONOHOOK_API_METRICS_DIR"] for i in (1, 2)} == {"/tmp/m"}
    assert all("CHRONOHOOK_METRICS_PORT" not in env[f"ingest-{i}"] for i in (1, 2))


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return int(r.status), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_a_service_serves_metrics_and_livez_while_its_loop_goes_round() -> None:
    # Given a metrics server on a free loopback port, for a loop that just went round
    pulse = Pulse()
    registry = CollectorRegistry()
    server = MetricsServer("127.0.0.1", 0, "executor", pulse.age, 15.0, registry)
    base = f"http://127.0.0.1:{server.port}"
    try:
        # Then /metrics answers the registry, /livez 200
        assert _get(f"{base}/metrics")[0] == 200
        status, body = _get(f"{base}/livez")
        assert status == 200 and '"service":"executor"' in body
        # When the loop has not gone round for 20 s
        pulse.last = time.monotonic() - 20
        # Then /livez is 503
        status, body = _get(f"{base}/livez")
        assert status == 503 and '"stalled"' in body
    finally:
        server.close()


def _due(queue: str | None, delayed_by_ms: int = 0) -> JobDue:
    return JobDue(
        event_id="e", job_id="j", tenant="t", occurred_at=NOW, run_id="r", due_at=NOW, queue=queue,
        request=HttpRequestSpec(method="POST", url="http://127.0.0.1:9/x"), delayed_by_ms=delayed_by_ms,
    )  # fmt: skip


def _value(metric: Any, *labels: str) -> float:
    child = metric.labels(*labels) if labels else metric
    return float(child._value.get())


def test_an_attempt_counts_its_outcome_lateness_and_refusals() -> None:
    # Given the executor's run metrics with no queue listed
    runs = RunMetrics(QueueLabels([]))
    delivered, failed = _value(DELIVERED, "other"), _value(FAILED, "none")
    egress, budget = _value(REFUSALS, "egress"), _value(REFUSALS, "budget")
    late = LATENESS._sum.get()
    # When one attempt passes 250 ms late, and one budget-delayed attempt is refused by the egress guard
    runs.ran(_due("acme"), SendResult(0.0, 1.0, status=200), NOW + timedelta(milliseconds=250))
    refused = SendResult(0.0, 0.0, failure_reason="connection_error", error_message="refused by the egress policy: x")
    runs.ran(_due(None, delayed_by_ms=500), refused, NOW)
    # Then each counter moved by one, and the lateness histogram by 0.25 s
    assert _value(DELIVERED, "other") == delivered + 1 and _value(FAILED, "none") == failed + 1
    assert _value(REFUSALS, "egress") == egress + 1 and _value(REFUSALS, "budget") == budget + 1
    assert LATENESS._sum.get() == pytest.approx(late + 0.25)


WORKER = """
import sys
from schemas.events import JobPushed
from services.ingest.metrics import CREATED
CREATED.labels("none").inc(int(sys.argv[1]))
"""


def test_the_api_counts_across_its_worker_processes(tmp_path: Path) -> None:
    # Given two API worker processes sharing one metrics directory, each counting created jobs
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    import os

    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
    for n in (3, 4):
        subprocess.run([sys.executable, "-c", WORKER, str(n)], env=env, check=True, timeout=60)
    # When the directory is collected, as /metrics does in multiprocess mode
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(tmp_path))  # type: ignore[no-untyped-call]
    # Then the count is both processes' together
    assert 'chronohook_jobs_created_total{queue="none"} 7.0' in generate_latest(registry).decode()


def test_api_requests_are_labelled_by_route_template_and_a_bounded_method(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from chronohook.clock import FixedClock
    from chronohook.kafka.log import InMemoryEventLog
    from chronohook.settings import Settings
    from chronohook.store.tokens import create_token
    from services.ingest.app import build_context, create_app

    # Given the API (one process: its own registry)
    ctx = build_context(Settings(data_dir=tmp_path), FixedClock(NOW), log=InMemoryEventLog())
    with TestClient(create_app(ctx)) as client:
        # When a job is read by id, a path no route serves is asked, and a made-up method is sent
        token = create_token(ctx.engine, "t")
        client.get("/api/jobs/12345", headers={"Authorization": f"Bearer {token}"})
        client.get("/no/such/path/98765")
        client.request("BREW", "/healthz")
        body = client.get("/metrics").text
    # Then the series name the route's template, "unmatched" and "other", never the id, the path or the method
    assert 'method="GET",route="/api/jobs/{job_id}",status="404"' in body
    assert 'route="unmatched"' in body and 'method="other"' in body
    assert "12345" not in body and "98765" not in body and "BREW" not in body
