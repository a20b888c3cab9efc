"""The subscriber kit on the real broker: each example follower, run as its own process the way a user runs it,
prints one scripted job's events in their order (docs/subscribers.md)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.topics import EVENTS, topic_name
from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import Receiver

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]
# The faust example runs in its own venv (`make install` makes it; pyproject's `subscribers` extra says why).
SUBSCRIBERS_PYTHON = REPO / ".venv-subscribers" / "bin" / "python"
EXPECTED = ["JobPushed", "JobDue", "JobSucceeded"]


class FollowerProcess:
    """An example follower as a child process; its stdout lines collected by a thread, its stderr to a file."""

    def __init__(self, module: str, args: list[str], log: Path, python: str = sys.executable) -> None:
        self.started = time.monotonic()
        self.lines: list[tuple[float, str]] = []
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [python, "-m", module, *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:  # ends when the process closes its stdout
            self.lines.append((time.monotonic() - self.started, raw.decode(errors="replace").rstrip("\n")))

    def types_of(self, job_id: str) -> list[str]:
        return [line.split()[0] for _, line in list(self.lines) if len(line.split()) > 1 and line.split()[1] == job_id]

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then the exit code; killed if it does not stop within ``timeout``."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise
        finally:
            self._reader.join(5)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self._log.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


@pytest.fixture(scope="module")
def scripted_job(stack: Stack, receiver: Receiver) -> str:
    """One Recuro job pushed, run and succeeded: its events are JobPushed, JobDue, JobSucceeded. Its key in the log."""
    with stack.client() as c:
        r = c.post("/api/jobs", json={"queue": "subscribers", "url": receiver.url("/subscribers-kit")})
        assert r.status_code == 201, r.text
        job_id = r.json()["job_id"]
        receiver.wait_for(lambda q: q.path == "/subscribers-kit", timeout=15)
        eventually(
            lambda: c.get(f"/api/jobs/{job_id}").json().get("final_status") == "success",
            timeout=15,
            what="the scripted job reads success",
        )
    return f"rj_{job_id}"


@pytest.fixture
def follower_args(stack: Stack) -> list[str]:
    return [
        "--bootstrap",
        stack.settings.kafka_bootstrap,
        "--topic",
        topic_name(stack.settings.topic_prefix, EVENTS),
        "--group",
        f"follower-{secrets.token_hex(4)}",
        "--from",
        "earliest",
    ]


@pytest.fixture
def follower() -> Iterator[list[FollowerProcess]]:
    started: list[FollowerProcess] = []
    try:
        yield started
    finally:
        for proc in started:
            proc.close()


@pytest.mark.parametrize(
    ("module", "python", "within"),
    [
        ("examples.subscribers.confluent_follower", sys.executable, 20.0),
        # faust imports slowly and joins its group through its own assignor: measured ~3-5 s to the first line.
        ("examples.subscribers.faust_follower", str(SUBSCRIBERS_PYTHON), 30.0),
    ],
    ids=["confluent-kafka", "faust-streaming"],
)
def test_follower_prints_a_scripted_jobs_events_in_order(
    module: str,
    python: str,
    within: float,
    scripted_job: str,
    follower_args: list[str],
    follower: list[FollowerProcess],
    tmp_path: Path,
) -> None:
    # Given one job that was pushed, came due and succeeded
    job_id = scripted_job
    assert Path(python).exists(), f"{python} is missing: `make install` makes it"
    # When the example follows the job log from the earliest offset in a group of its own
    proc = FollowerProcess(module, follower_args, tmp_path / "follower.log", python)
    follower.append(proc)
    # Then it prints that job's events, one line each, in the order they happened
    eventually(
        lambda: len(proc.types_of(job_id)) >= len(EXPECTED) or proc.proc.poll() is not None,
        timeout=within,
        what=f"{module} printing {job_id}'s events",
    )
    assert proc.types_of(job_id) == EXPECTED, (proc.lines[-20:], (tmp_path / "follower.log").read_text()[-3000:])
    seen_at = max(at for at, line in proc.lines if f" {job_id} " in line)
    print(f"{module}: {job_id}'s events printed {seen_at:.2f} s after start")
    # And each line names the type, the job and an RFC 3339 time
    [first] = [line for _, line in proc.lines if line.startswith(f"JobPushed {job_id} ")]
    assert first.split()[2][:4].isdigit() and "T" in first.split()[2]
    # When it is sent SIGTERM
    code = proc.stop()
    # Then it stops cleanly
    assert code == 0, (tmp_path / "follower.log").read_text()[-3000:]
