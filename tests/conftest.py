"""Session fixtures: a real Kafka broker and the four services, on free ports, through the CLI's own code."""

from __future__ import annotations

import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from chronohook.broker import LocalBroker
from chronohook.settings import Settings
from chronohook.store.engine import create_schema, make_engine
from chronohook.store.tokens import create_token
from chronohook.supervisor import Supervisor
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.support.postgres import require_server, throwaway_postgres
from tests.support.receiver import ALLOWED_HOSTS, Receiver


def _docker_engine() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env().ping()
    except Exception:  # no engine: the client alone is not enough
        return False
    return True


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real broker: CHRONOHOOK_TEST_KAFKA_BOOTSTRAP if set, testcontainers where Docker runs, else from jars."""
    given = os.environ.get("CHRONOHOOK_TEST_KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    if _docker_engine():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("apache/kafka:4.1.0").with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    broker = LocalBroker(tmp_path_factory.mktemp("kafka"), port=free_port(), controller_port=free_port())
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


@dataclass
class Stack:
    settings: Settings
    supervisor: Supervisor
    base_url: str
    token: str
    other_token: str
    data_dir: Path

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {token or self.token}"}, timeout=10
        )


@pytest.fixture(scope="session")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Stack]:
    """The four services as child processes (restarted when they die), on a fresh topic prefix."""
    data_dir = tmp_path_factory.mktemp("chronohook")
    settings = Settings(
        data_dir=data_dir,
        kafka_bootstrap=kafka_bootstrap,
        api_port=free_port(),
        topic_prefix=f"test-{secrets.token_hex(4)}",
        partitions=3,
    )
    engine = make_engine(settings.resolved_database_url)
    create_schema(engine)
    token = create_token(engine, "tenant-a")
    other = create_token(engine, "tenant-b")
    engine.dispose()
    env = dict(os.environ)
    env.update(
        CHRONOHOOK_DATA_DIR=str(data_dir),
        CHRONOHOOK_KAFKA_BOOTSTRAP=kafka_bootstrap,
        CHRONOHOOK_API_PORT=str(settings.api_port),
        CHRONOHOOK_TOPIC_PREFIX=settings.topic_prefix,
        CHRONOHOOK_PARTITIONS="3",
        # Only the receivers' addresses: every other loopback spelling must be refused (test_egress.py).
        CHRONOHOOK_EGRESS_ALLOW=",".join(f"{host}/32" for host in ALLOWED_HOSTS),
    )
    supervisor = Supervisor(env=env, log_dir=data_dir / "logs")
    stop = threading.Event()
    watcher = threading.Thread(target=supervisor.run, args=(stop,), daemon=True)
    supervisor.start()
    watcher.start()
    base = f"http://127.0.0.1:{settings.api_port}"
    s = Stack(settings, supervisor, base, token, other, data_dir)
    try:
        eventually(lambda: _ready(base), timeout=90, what="ingest /readyz")
        # Warm-up: one job all the way through proves every service has its partitions.
        with s.client() as c:
            r = c.post("/api/jobs", json={"queue": "warmup", "url": receiver.url("/warmup")})
            assert r.status_code == 201, r.text
        receiver.wait_for(lambda q: q.path == "/warmup", timeout=90)
        yield s
    finally:
        stop.set()
        watcher.join(5)
        supervisor.stop()


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server per test module, for the stores whose statements must hold on both backends."""
    require_server()
    with throwaway_postgres() as url:
        yield url
