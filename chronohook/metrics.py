"""Prometheus metrics shared by the services (issue 17, decision 0042; every metric is listed in docs/operations.md).

- ``QueueLabels``: a job's queue as a label of bounded cardinality (the names in ``CHRONOHOOK_METRICS_QUEUES``,
  ``other``, ``none``), looked up in a dict: no string formatting on a hot path.
- ``MetricsServer``: one small HTTP server per timer, executor and projector process, on its own port, answering
  ``/metrics`` (the process's registry) and ``/livez`` (200 while the main loop goes round).
- ``ConsumerLag``: a collector that asks the broker, when scraped (at most once per ``LAG_CACHE_S``), how far a
  consumer group's committed offsets are behind the end of each partition.
- ``DeadRecords``: the records this process set aside, per consumer (chronohook/kafka/dead_records.py counts them).
- ``api_registry``: what the API's ``/metrics`` exposes, pooled across ingest processes in multiprocess mode.

The timer, executor and projector are single processes with the default registry; several ingest processes share one
port, so their metrics go through prometheus-client's multiprocess mode, whose directory must be in the environment
(``PROMETHEUS_MULTIPROC_DIR``) before prometheus-client is first imported: chronohook/metrics_ports.py's
``prepare_multiprocess`` does that, called by the CLI before it imports a service.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from chronohook.heartbeats import Heartbeat, Pulse, instance_name
from chronohook.settings import Settings

log = logging.getLogger("chronohook.metrics")

NAMESPACE = "chronohook"
MAX_QUEUE_LABELS = 50
NO_QUEUE = "none"
OTHER_QUEUE = "other"
# Consumer lag is asked of the broker at most this often, however often Prometheus scrapes.
LAG_CACHE_S = 5.0
# Lateness of a delivery (its start minus its due instant), in seconds: where a scheduler's promise is measured.
LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
# Work refused or held back, by reason (a small fixed set: quota and body_size at the API; egress, header and budget
# at the executor). One family for every service: a process counts the reasons it meets.
REFUSALS = Counter(f"{NAMESPACE}_refusals", "Work refused or held back, by reason.", ["reason"])


def multiprocess_dir() -> Path | None:
    found = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(found) if found else None


def api_registry() -> CollectorRegistry:
    """The API's registry: every ingest process's metrics pooled from the shared directory, or this process's own."""
    path = multiprocess_dir()
    if path is None:
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(path))  # type: ignore[no-untyped-call]
    return registry


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    return generate_latest(registry), CONTENT_TYPE_LATEST


class QueueLabels:
    """A queue's label: its name if listed in ``CHRONOHOOK_METRICS_QUEUES``, ``other`` if not, ``none`` without one."""

    def __init__(self, names: Iterable[str]) -> None:
        listed = [name for name in (n.strip() for n in names) if name][:MAX_QUEUE_LABELS]
        self._names = {name: name for name in listed}

    @classmethod
    def from_settings(cls, settings: Settings) -> QueueLabels:
        return cls(settings.metrics_queues.split(","))

    @property
    def values(self) -> list[str]:
        return [*self._names, OTHER_QUEUE, NO_QUEUE]

    def __call__(self, queue: str | None) -> str:
        if queue is None:
            return NO_QUEUE
        return self._names.get(queue, OTHER_QUEUE)


def children(metric: Any, values: Iterable[str]) -> dict[str, Any]:
    """A labelled metric's child per label value, made once: ``metric.labels(...)`` costs a lock and a tuple."""
    return {value: metric.labels(value) for value in values}


def metrics_port(settings: Settings, service: str) -> int | None:
    """The port this process serves its metrics on: ``CHRONOHOOK_METRICS_PORT`` if set, else the base port plus the
    service's offset (chronohook/metrics_ports.py); None when metrics ports are off (base 0)."""
    from chronohook.metrics_ports import OFFSETS

    if settings.metrics_port is not None:
        return settings.metrics_port or None
    if settings.metrics_base_port == 0:
        return None
    return settings.metrics_base_port + OFFSETS[service]


class MetricsServer:
    """``/metrics`` and ``/livez`` for one process, from a daemon thread. ``/livez`` answers 200 while the main loop's
    pulse is younger than ``stale_s``, else 503; a stopped process (SIGSTOP) answers nothing."""

    def __init__(
        self,
        host: str,
        port: int,
        service: str,
        pulse_age: Callable[[], float],
        stale_s: float,
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        self.service = service
        self.registry = registry
        self.pulse_age = pulse_age
        self.stale_s = stale_s
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    body, kind, status = *exposition(server.registry), 200
                elif path == "/livez":
                    age = server.pulse_age()
                    live = age <= server.stale_s
                    word = "live" if live else "stalled"
                    body = f'{{"status":"{word}","service":"{server.service}","loop_age_s":{age:.1f}}}\n'.encode()
                    kind, status = "application/json", 200 if live else 503
                else:
                    body, kind, status = b"not found\n", "text/plain", 404
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:  # scrapes every few seconds: not worth a line each
                return

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        threading.Thread(target=self.httpd.serve_forever, name=f"{service}-metrics", daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def serve_metrics(settings: Settings, service: str, pulse_age: Callable[[], float]) -> MetricsServer | None:
    """Start this process's metrics server; a port that cannot be bound is logged, and the service runs without."""
    port = metrics_port(settings, service)
    if port is None:
        return None
    try:
        server = MetricsServer(settings.metrics_host, port, service, pulse_age, settings.heartbeat_stale_s)
    except OSError as exc:
        log.error("%s metrics not served on %s:%d: %s", service, settings.metrics_host, port, exc.strerror)
        return None
    log.info("%s metrics at http://%s:%d/metrics", service, settings.metrics_host, server.port)
    return server


# -- collectors read when scraped -----------------------------------------------------------------------------------

Offsets = Callable[[], dict[tuple[str, int], int]]


class ConsumerLag(Collector):
    """``chronohook_consumer_lag_records{group, topic, partition}``: the end of each partition minus the group's next
    offset there (committed offsets; the projector's live in the database, so it passes ``committed``). Asked of the
    broker when scraped, at most once per ``LAG_CACHE_S``, through a consumer of its own that joins no group."""

    def __init__(self, settings: Settings, group: str, topics: list[str], committed: Offsets | None = None) -> None:
        self.settings = settings
        self.group = group
        self.topics = topics
        self.committed = committed
        self._consumer: Any = None
        self._lock = threading.Lock()
        self._cache: tuple[float, list[tuple[str, int, int]]] = (0.0, [])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            f"{NAMESPACE}_consumer_lag_records",
            "Records in each partition past the consumer group's committed position.",
            labels=["group", "topic", "partition"],
        )
        for topic, partition, lag in self._lags():
            family.add_metric([self.group, topic, str(partition)], lag)
        yield family

    def _lags(self) -> list[tuple[str, int, int]]:
        with self._lock:
            at, lags = self._cache
            if time.monotonic() - at < LAG_CACHE_S:
                return lags
            try:
                lags = self._ask()
            except Exception as exc:  # the broker away: no sample this time, and the process goes on
                log.warning("consumer lag of %s not read: %s", self.group, exc)
                lags = []
            self._cache = (time.monotonic(), lags)
            return lags

    def _ask(self) -> list[tuple[str, int, int]]:
        from confluent_kafka import Consumer, TopicPartition

        from chronohook.kafka.config import consumer_config

        if self._consumer is None:
            config = consumer_config(self.settings, self.group)
            config.pop("group.instance.id", None)  # it never joins: the service's own member keeps that id
            self._consumer = Consumer(config)
        metadata = self._consumer.list_topics(timeout=5)
        partitions = [
            TopicPartition(topic, p)
            for topic in self.topics
            if topic in metadata.topics
            for p in metadata.topics[topic].partitions
        ]
        if self.committed is not None:
            stored = self.committed()
            positions = {(tp.topic, tp.partition): stored.get((tp.topic, tp.partition), -1) for tp in partitions}
        else:
            positions = {(tp.topic, tp.partition): tp.offset for tp in self._consumer.committed(partitions, timeout=5)}
        lags = []
        for tp in partitions:
            low, high = self._consumer.get_watermark_offsets(tp, timeout=5)
            at = positions[(tp.topic, tp.partition)]
            lags.append((tp.topic, tp.partition, max(0, high - (at if at >= 0 else low))))
        return lags


class DeadRecords(Collector):
    """``chronohook_dead_records_total{consumer}``: records this process set aside on ``<prefix>.dead-records``."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        from chronohook.kafka.dead_records import set_aside_counts

        family = CounterMetricFamily(
            f"{NAMESPACE}_dead_records",
            "Records a consumer could not decode or apply, set aside on <prefix>.dead-records.",
            labels=["consumer"],
        )
        for consumer, count in sorted(set_aside_counts().items()):
            family.add_metric([consumer], count)
        yield family


class Gauges(Collector):
    """Gauges read from a live object when scraped (nothing on the hot path): ``read`` returns name -> value."""

    def __init__(self, read: Callable[[], dict[str, tuple[str, float]]]) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            values = self.read()
        except RuntimeError:  # a dict changed size under the scrape: no sample this time
            return
        for name, (doc, value) in values.items():
            yield GaugeMetricFamily(f"{NAMESPACE}_{name}", doc, value=value)


def register_once(collector: Collector, registry: CollectorRegistry = REGISTRY) -> None:
    """Register a collector (a process runs one service; tests build several, the later ones are not exposed)."""
    try:
        registry.register(collector)
    except ValueError:
        log.debug("a collector of these names is registered already")


@contextmanager
def observed(settings: Settings, service: str, pulse: Pulse) -> Iterator[None]:
    """While a service process runs: its metrics server (``/metrics``, ``/livez``) and its heartbeat row, which a
    clean exit removes."""
    from chronohook.store.engine import create_schema, make_engine

    server = serve_metrics(settings, service, pulse.age)
    engine = make_engine(settings.resolved_database_url)
    create_schema(engine)
    heartbeat = Heartbeat(engine, service, instance_name(settings), pulse, settings.heartbeat_interval_s).start()
    try:
        yield
    finally:
        heartbeat.stop()
        engine.dispose()
        if server is not None:
            server.close()
