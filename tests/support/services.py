"""The four services as child processes for integration tests: the environment they get, and a context manager
that starts them, waits until one job has gone all the way through, and stops them."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from chronohook.supervisor import Supervisor
from tests.support.polling import eventually
from tests.support.receiver import ALLOWED_HOSTS, Receiver


def services_env(data_dir: Path, kafka_bootstrap: str, port: int, topic_prefix: str) -> dict[str, str]:
    """This process's environment, pointed at ``data_dir``, the test broker, ``port`` and a fresh topic prefix."""
    env = dict(os.environ)
    env.update(
        CHRONOHOOK_DATA_DIR=str(data_dir),
        CHRONOHOOK_KAFKA_BOOTSTRAP=kafka_bootstrap,
        CHRONOHOOK_API_PORT=str(port),
        CHRONOHOOK_TOPIC_PREFIX=topic_prefix,
        CHRONOHOOK_PARTITIONS="3",
        # Only the receivers' addresses: every other loopback spelling must be refused (test_egress.py).
        CHRONOHOOK_EGRESS_ALLOW=",".join(f"{host}/32" for host in ALLOWED_HOSTS),
    )
    return env


@contextmanager
def running_services(
    env: dict[str, str], data_dir: Path, token: str, receiver: Receiver, warm_path: str, api_workers: int = 1
) -> Iterator[Supervisor]:
    """The services up (restarted when they die) and warm: one job, sent with ``token`` to ``warm_path`` on the
    receiver, has arrived, which proves every service has its partitions. Stopped on exit."""
    supervisor = Supervisor(env=env, log_dir=data_dir / "logs", api_workers=api_workers)
    stop = threading.Event()
    watcher = threading.Thread(target=supervisor.run, args=(stop,), daemon=True)
    supervisor.start()
    watcher.start()
    base = f"http://127.0.0.1:{env['CHRONOHOOK_API_PORT']}"
    try:
        eventually(lambda: _ready(base), timeout=90, what="ingest /readyz")
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10) as c:
            r = c.post("/api/jobs", json={"queue": "warmup", "url": receiver.url(warm_path)})
            assert r.status_code == 201, r.text
        receiver.wait_for(lambda q: q.path == warm_path, timeout=90)
        yield supervisor
    finally:
        stop.set()
        watcher.join(5)
        supervisor.stop()


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
