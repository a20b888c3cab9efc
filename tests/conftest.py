"""Session fixtures: a real Kafka broker and the four services, on free ports, through the CLI's own code."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from chronohook.broker import LocalBroker
from chronohook.settings import Settings
from chronohook.store.engine import create_schema, make_engine
from chronohook.store.tokens import create_token
from chronohook.supervisor import Supervisor
from tests.support.ports import free_port
from tests.support.postgres import require_server, throwaway_postgres
from tests.support.receiver import Receiver
from tests.support.services import running_services, services_env

# Every service a test starts (they inherit this environment) seals sensitive headers, as a production one must: an
# ingest or executor without a key refuses to start (decision 0044). One key for the session, never a real one.
os.environ.setdefault("CHRONOHOOK_SECRET_KEY", "dGVzdC1vbmx5LWtleS1jaHJvbm9ob29rLXRlc3RzLTE=")


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
    env = services_env(data_dir, kafka_bootstrap, settings.api_port, settings.topic_prefix)
    with running_services(env, data_dir, token, receiver, "/warmup") as supervisor:
        yield Stack(settings, supervisor, f"http://127.0.0.1:{settings.api_port}", token, other, data_dir)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server per test module, for the stores whose statements must hold on both backends."""
    require_server()
    with throwaway_postgres() as url:
        yield url


# Every read-model contract runs on SQLite and on PostgreSQL (a test module with an ``engine`` of its own keeps it).
@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
        create_schema(eng)
        yield eng
        eng.dispose()
        return
    require_server()
    with throwaway_postgres() as url:
        eng = make_engine(url)
        create_schema(eng)
        yield eng
        eng.dispose()
