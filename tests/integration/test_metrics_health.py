"""Metrics and health as an operator sees them (issue 17, decision 0042): a stack of its own with two API processes
on one port, on the session broker. A delivery moves the API's created counter (pooled across both processes), the
executor's delivered counter and its lateness histogram; every service process answers /metrics and /livez on its
own port; a SIGSTOPped executor makes /readyz 503 naming it within 30 s, and 200 again after SIGCONT."""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chronohook.devstack import port_free
from chronohook.metrics_ports import child_port
from chronohook.store.engine import create_schema, make_engine
from chronohook.store.tokens import create_token
from chronohook.supervisor import Supervisor
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.support.receiver import Receiver
from tests.support.services import running_services, services_env

WORKERS = 2
SERVICES = ("timer", "projector", "executor")
# Short thresholds, so the test waits seconds (the defaults: a beat every 2 s, stalled after 15 s).
STALE_S = 3.0


@dataclass
class Stack:
    base_url: str
    token: str
    supervisor: Supervisor
    metrics: dict[str, str]  # service -> its http://127.0.0.1:PORT

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10)


def _free_base() -> int:
    """A base port whose service ports (base + 1 .. base + 3) are all free on loopback."""
    for _ in range(50):
        base = free_port()
        if base < 65_000 and all(port_free("127.0.0.1", child_port(base, s) or 0) for s in SERVICES):
            return base
    raise AssertionError("no free run of metrics ports")


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Stack]:
    data_dir: Path = tmp_path_factory.mktemp("metrics")
    port, base = free_port(), _free_base()
    engine = make_engine(f"sqlite:///{(data_dir / 'chronohook.db').resolve()}")
    create_schema(engine)
    token = create_token(engine, f"metrics-{secrets.token_hex(3)}")
    engine.dispose()
    env = services_env(data_dir, kafka_bootstrap, port, f"metrics-{secrets.token_hex(4)}")
    env.update(
        CHRONOHOOK_METRICS_BASE_PORT=str(base),
        CHRONOHOOK_HEARTBEAT_INTERVAL_S="0.5",
        CHRONOHOOK_HEARTBEAT_STALE_S=str(STALE_S),
        CHRONOHOOK_HEARTBEAT_GONE_S="120",
    )
    with running_services(env, data_dir, token, receiver, "/metrics-warmup", api_workers=WORKERS) as supervisor:
        metrics = {s: f"http://127.0.0.1:{child_port(base, s)}" for s in SERVICES}
        yield Stack(f"http://127.0.0.1:{port}", token, supervisor, metrics)


def _samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = httpx.get(url, timeout=10)
    assert r.status_code == 200, r.text
    found = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return sum(value for (n, _), value in samples.items() if n == name)


def test_a_delivery_moves_the_created_and_delivered_counters_and_the_lateness_histogram(
    stack: Stack, receiver: Receiver
) -> None:
    # Given the metrics as they stand (the API's pooled over both of its processes)
    api_before = _samples(f"{stack.base_url}/metrics")
    executor_before = _samples(f"{stack.metrics['executor']}/metrics")
    # When four jobs are created (new connections: the kernel spreads them over both API processes) and delivered
    with stack.client() as c:
        for i in range(4):
            r = c.post("/api/jobs", json={"queue": "metrics", "url": receiver.url(f"/metrics-job-{i}")})
            assert r.status_code == 201, r.text
    paths = {f"/metrics-job-{i}" for i in range(4)}
    receiver.wait_for(lambda q: q.path in paths, count=4, timeout=60)

    # Then the API counted four more created jobs (under "other": the queue is not listed), and HTTP durations
    def moved() -> bool:
        api = _samples(f"{stack.base_url}/metrics")
        executor = _samples(f"{stack.metrics['executor']}/metrics")
        created = _total(api, "chronohook_jobs_created_total") - _total(api_before, "chronohook_jobs_created_total")
        delivered = _total(executor, "chronohook_jobs_delivered_total") - _total(
            executor_before, "chronohook_jobs_delivered_total"
        )
        late = _total(executor, "chronohook_delivery_lateness_seconds_count") - _total(
            executor_before, "chronohook_delivery_lateness_seconds_count"
        )
        return created >= 4 and delivered >= 4 and late >= 4

    eventually(moved, timeout=30, interval=0.5, what="created, delivered and lateness to move by 4")
    api = _samples(f"{stack.base_url}/metrics")
    assert api[("chronohook_jobs_created_total", (("queue", "other"),))] >= 4
    assert _total(api, "chronohook_http_request_duration_seconds_count") > 0
    # And, served without a token, it names no tenant and no tenant's queue (the queue "metrics" is not listed)
    assert "metrics" not in {dict(labels).get("queue") for _, labels in api}
    assert "metrics-" not in httpx.get(f"{stack.base_url}/metrics", timeout=10).text  # the tenant's name
    # And every service process answers its /metrics and /livez, the lag of its consumer group among its metrics (a
    # scrape whose broker question failed, e.g. while the group's coordinator moves, has no lag sample: the next
    # one, after the 5 s cache, asks again)
    for service, url in stack.metrics.items():
        assert httpx.get(f"{url}/livez", timeout=5).status_code == 200, service

        def lag_sampled(url: str = url) -> bool:
            return any(name == "chronohook_consumer_lag_records" for name, _ in _samples(f"{url}/metrics"))

        eventually(lag_sampled, timeout=30, interval=1.0, what=f"the {service}'s consumer lag")
    timer = _samples(f"{stack.metrics['timer']}/metrics")
    assert ("chronohook_timer_near_window_entries", ()) in timer


def _readyz(base_url: str) -> httpx.Response | None:
    try:
        return httpx.get(f"{base_url}/readyz", timeout=3)
    except httpx.HTTPError:
        return None


def _ready(base_url: str) -> bool:
    r = _readyz(base_url)
    return r is not None and r.status_code == 200


def test_a_stopped_executor_makes_readyz_503_naming_it_and_200_once_it_resumes(stack: Stack) -> None:
    # Given a ready stack
    eventually(lambda: _ready(stack.base_url), timeout=30, interval=0.2, what="/readyz 200")
    process = stack.supervisor.children["executor"].process
    assert process is not None
    # When the executor is frozen (SIGSTOP: it writes nothing at all)
    os.kill(process.pid, signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        # Then /readyz answers 503 within 30 s, naming the executor
        def names_executor() -> bool:
            r = _readyz(stack.base_url)
            return r is not None and r.status_code == 503 and any("executor" in s for s in r.json().get("stalled", []))

        eventually(names_executor, timeout=30, interval=0.2, what="/readyz 503 naming the executor")
        took = time.monotonic() - stopped_at
        assert took < 30
        r = _readyz(stack.base_url)
        assert r is not None and r.json()["services"]["executor"] == "stalled" and r.json()["services"]["timer"] == "ok"
    finally:
        # When it resumes (SIGCONT)
        os.kill(process.pid, signal.SIGCONT)
    # Then /readyz is 200 again
    eventually(lambda: _ready(stack.base_url), timeout=30, interval=0.2, what="/readyz 200 again")
