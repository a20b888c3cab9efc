"""`chronohook dev`: starts a broker when none answers, the four services, a dev token; says "up" once the API
answers; a second one on its port is refused; SIGTERM stops all of it."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from chronohook.devstack import port_free
from chronohook.kafka.topics import broker_answers
from chronohook.metrics_ports import planned
from chronohook.settings import Settings
from tests.support.polling import eventually
from tests.support.ports import free_port


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_dev_brings_everything_up_and_down(tmp_path: Path) -> None:
    # Given no broker at the configured address and an empty data dir
    kafka_port, api_port = free_port(), free_port()
    bootstrap = f"127.0.0.1:{kafka_port}"
    assert not broker_answers(bootstrap, timeout=0.5)
    env = dict(os.environ)
    env.update(
        CHRONOHOOK_DATA_DIR=str(tmp_path / "data"),
        CHRONOHOOK_KAFKA_BOOTSTRAP=bootstrap,
        CHRONOHOOK_KAFKA_CONTROLLER_PORT=str(free_port()),
        CHRONOHOOK_API_PORT=str(api_port),
        CHRONOHOOK_TOPIC_PREFIX="devtest",
        CHRONOHOOK_METRICS_BASE_PORT=str(_free_metrics_base()),
    )
    log = (tmp_path / "dev.out").open("wb")
    # When `chronohook dev` runs
    proc = subprocess.Popen(
        [sys.executable, "-m", "chronohook.cli", "dev", "--logs", str(tmp_path / "logs")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # Then it says "up" only once the API answers ready (Kafka and the database reachable)
        eventually(lambda: "chronohook is up" in (tmp_path / "dev.out").read_text(), timeout=180, what="the banner")
        assert _ready(f"http://127.0.0.1:{api_port}/readyz")
        # And it printed the API URL and a dev token, kept in the data dir with mode 0600
        token_file = tmp_path / "data" / "dev-token"
        token = token_file.read_text().strip()
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        out = (tmp_path / "dev.out").read_text()
        assert f"http://127.0.0.1:{api_port}" in out
        assert token in out
        # And the token works against the API
        r = httpx.get(f"http://127.0.0.1:{api_port}/jobs", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert r.json() == []
        # And every metrics URL it printed (the API's, the timer's, the projector's, each executor's) answers
        urls = re.findall(r"metrics: (http://127\.0\.0\.1:\d+/metrics)", out)
        assert len(urls) == 3 + Settings().executor_processes, out
        assert all(httpx.get(url, timeout=10).status_code == 200 for url in urls)
        # And the broker it started is running from the data dir
        pid = int((tmp_path / "data" / "kafka" / "broker.pid").read_text())
        assert broker_answers(bootstrap)
        # And a second `chronohook dev` on the same API port exits at once with one line, starting nothing
        second = _second_dev(tmp_path, env)
        assert second.returncode == 1 and second.stdout == ""
        (line,) = second.stderr.splitlines()
        assert f"port {api_port}" in line and "CHRONOHOOK_API_PORT" in line
        assert not (tmp_path / "second").exists()
        # And `chronohook tokens` run from another directory refuses rather than making a second database, and finds
        # the stack's once CHRONOHOOK_DATA_DIR names it
        elsewhere = {k: v for k, v in env.items() if k != "CHRONOHOOK_DATA_DIR"}
        refused = _tokens_list(tmp_path, elsewhere)
        assert refused.returncode == 1 and "CHRONOHOOK_DATA_DIR" in refused.stderr
        assert not (tmp_path / ".chronohook").exists()
        listed = _tokens_list(tmp_path, env)
        assert listed.returncode == 0 and " dev " in listed.stdout
    finally:
        # When it gets SIGTERM
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        log.close()
    # Then it exits cleanly, and the broker it started is gone
    assert code == 0
    eventually(lambda: not _alive(pid), timeout=30, what="broker stopped")
    assert not broker_answers(bootstrap, timeout=0.5)


def _free_metrics_base() -> int:
    """A base port whose metrics ports (base + 1 .. base + 2 + executors) are all free on loopback."""
    for _ in range(50):
        base = free_port()
        ports = planned(base, Settings().executor_processes).values()
        if base < 65_000 and all(port_free("127.0.0.1", port) for port in ports):
            return base
    raise AssertionError("no free run of metrics ports")


def _second_dev(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chronohook.cli", "dev"],
        env={**env, "CHRONOHOOK_DATA_DIR": str(tmp_path / "second")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _tokens_list(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chronohook.cli", "tokens", "list"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill 0; it is gone for our purpose once it has exited.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()
