"""The whole product for a benchmark: a local broker (from the jars), the four services, a token.

Built from the same ``LocalBroker`` and ``Supervisor`` the ``chronohook dev`` command uses, on free
ports and a fresh topic prefix, so a bench measures what users run.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.toolkit.expect import expect_status
from bench.toolkit.receiver import HOST as RECEIVER_HOST
from chronohook.broker import LocalBroker
from chronohook.kafka.topics import ensure_topics
from chronohook.sealing import generate_key
from chronohook.settings import Settings
from chronohook.store.engine import create_schema, make_engine
from chronohook.store.tokens import create_token
from chronohook.supervisor import SERVICES, Supervisor

READY_TIMEOUT_S = 120.0

# What every process a bench serves the API from is given, the real stack and the Kafka-less ingest ceiling alike.
BENCH_ENV = {
    # The bench receiver's address; the egress guard refuses every other inside address (without it, every
    # create to 127.0.0.1 is a 422).
    "CHRONOHOOK_EGRESS_ALLOW": f"{RECEIVER_HOST}/32",
    # The bench measures capacity: one tenant creating far beyond the per-tenant limits (decision 0014).
    "CHRONOHOOK_TENANT_CREATE_RATE": "0",
    "CHRONOHOOK_TENANT_MAX_PENDING": "0",
    # Ingest and executor refuse to start without a key (decision 0044): the caller's, else one for this bench.
    "CHRONOHOOK_SECRET_KEY": os.environ.get("CHRONOHOOK_SECRET_KEY") or generate_key(),
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_json(method: str, url: str, body: object | None = None, token: str | None = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


class BenchStack:
    """``with BenchStack(workdir) as stack``: broker + services up and warm; everything stopped on exit."""

    def __init__(
        self,
        workdir: Path,
        *,
        api_workers: int = 1,
        partitions: int = 3,
        env: dict[str, str] | None = None,
        bootstrap: str | None = None,
        services: tuple[str, ...] = SERVICES,
        executors: int = 1,
    ) -> None:
        self.workdir = workdir
        self.broker: LocalBroker | None = None
        if bootstrap is None:
            self.broker = LocalBroker(workdir / "kafka", port=free_port(), controller_port=free_port())
            bootstrap = self.broker.bootstrap
        self.settings = Settings(
            data_dir=workdir / "data",
            kafka_bootstrap=bootstrap,
            api_port=free_port(),
            topic_prefix=f"bench-{secrets.token_hex(4)}",
            partitions=partitions,
            api_workers=api_workers,
        )
        self.token = ""
        self._env = dict(os.environ)
        self._env.update(
            CHRONOHOOK_DATA_DIR=str(self.settings.data_dir.resolve()),
            CHRONOHOOK_KAFKA_BOOTSTRAP=bootstrap,
            CHRONOHOOK_API_PORT=str(self.settings.api_port),
            CHRONOHOOK_TOPIC_PREFIX=self.settings.topic_prefix,
            CHRONOHOOK_PARTITIONS=str(partitions),
            CHRONOHOOK_LOG_LEVEL="WARNING",
        )
        self._env.update(BENCH_ENV)
        self._env.update(env or {})  # the caller's last: it may override any of the above
        self.supervisor = Supervisor(
            env=self._env, log_dir=workdir / "logs", api_workers=api_workers, services=services, executors=executors
        )
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        # Every restart the supervisor made, as (time.time(), child name): a bench reports them.
        self.restarts: list[tuple[float, str]] = []

    def _watch(self) -> None:
        """``Supervisor.run``, noting each restart it makes."""
        while not self._stop.wait(0.2):
            for name in self.supervisor.check():
                self.restarts.append((time.time(), name))

    def restarts_since(self, since: float) -> list[str]:
        """The children restarted at or after ``since`` (a ``time.time()``), in order."""
        return [name for at, name in self.restarts if at >= since]

    def tenant_auth(self, tenant: str) -> dict[str, str]:
        """A fresh token of ``tenant`` (created in the stack's database), as the Authorization header."""
        engine = make_engine(self.settings.resolved_database_url)
        try:
            token = create_token(engine, tenant)
        finally:
            engine.dispose()
        return {"Authorization": f"Bearer {token}"}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.api_port}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def start(self) -> None:
        if self.broker is not None:
            self.broker.start()
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        ensure_topics(self.settings)
        engine = make_engine(self.settings.resolved_database_url)
        create_schema(engine)
        self.token = create_token(engine, "bench")
        engine.dispose()
        self.supervisor.start()
        self._watcher.start()
        self.wait_ready()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if http_json("GET", f"{self.base_url}/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the API at {self.base_url} was not ready within {timeout:.0f} s")

    def push(self, job: dict[str, object]) -> dict[str, object]:
        status, body = http_json("POST", f"{self.base_url}/api/jobs", job, self.token)
        expect_status(status, 201, "POST /api/jobs", body)
        assert isinstance(body, dict)
        return body

    def warm_up(self, url: str, arrived: object, timeout: float = 120.0) -> None:
        """One job all the way through: every service has its partitions once it arrives."""
        self.push({"queue": "warmup", "url": url})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(arrived) and arrived():
                return
            time.sleep(0.05)
        raise RuntimeError(f"the warm-up job did not arrive within {timeout:.0f} s")

    def pids(self) -> dict[str, int]:
        """Each service process's pid by name, and the broker's JVM as ``broker`` (when this stack started it)."""
        out = {name: child.process.pid for name, child in self.supervisor.children.items() if child.process is not None}
        if self.broker is not None and self.broker.process is not None:
            out["broker"] = self.broker.process.pid
        return out

    def kill(self, name: str) -> int:
        return self.supervisor.kill(name)

    def restart_broker(self) -> None:
        assert self.broker is not None, "the broker is not ours to restart"
        self.broker.stop()
        self.broker.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watcher.is_alive():
            self._watcher.join(5)
        self.supervisor.stop()
        if self.broker is not None:
            self.broker.stop()

    def __enter__(self) -> BenchStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
