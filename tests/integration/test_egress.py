"""End to end: no spelling of another loopback address reaches a listener; the allowed receiver still gets its job.

The stack runs with CHRONOHOOK_EGRESS_ALLOW=127.0.0.2/32,127.0.0.3/32 and the receiver on 127.0.0.2. Listeners on
127.0.0.1 and ::1 (same port) count every connection they accept; every spelling below points at them, as a Recuro
job URL, a Recuro callback URL and a QuedUp URL. Each must be a 422 at create or a run that fails naming the policy,
and the listeners must accept nothing. Only loopback addresses are ever connected to.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from chronohook.readmodel.store import ReadModelStore
from chronohook.readmodel.views import RunView
from chronohook.store.engine import make_engine
from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import Receiver

# How long listeners are watched after every job has been run or refused: the executor sends at once (delay 0).
QUIET_SECONDS = 3.0


class CountingListeners:
    """TCP listeners on 127.0.0.1 and (where the host has it) ::1, on one port, that count accepted connections."""

    def __init__(self) -> None:
        self.accepted: list[tuple[str, object]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.sockets, self.port = self._bind()
        self.ipv6 = len(self.sockets) == 2
        self._threads = [threading.Thread(target=self._accept, args=(s,), daemon=True) for s in self.sockets]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _bind() -> tuple[list[socket.socket], int]:
        for _ in range(20):  # bounded: a port free on 127.0.0.1 is nearly always free on ::1 too
            v4 = socket.create_server(("127.0.0.1", 0), backlog=1024)
            port = int(v4.getsockname()[1])
            try:
                v6 = socket.create_server(("::1", port), family=socket.AF_INET6, backlog=1024)
            except OSError as exc:
                if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                    return [v4], port  # no IPv6 loopback on this host
                v4.close()
                continue
            return [v4, v6], port
        raise RuntimeError("no port free on both 127.0.0.1 and ::1")

    def _accept(self, server: socket.socket) -> None:
        server.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, peer = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted.append((server.getsockname()[0], peer))
            conn.close()

    def count(self) -> int:
        with self._lock:
            return len(self.accepted)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        for server in self.sockets:
            server.close()


@pytest.fixture
def listeners() -> Iterator[CountingListeners]:
    counting = CountingListeners()
    try:
        yield counting
    finally:
        counting.close()


def _hosts_file_loopback_names() -> list[str]:
    """Names /etc/hosts maps to a loopback address, besides localhost: resolved without any DNS query."""
    names: list[str] = []
    with contextlib.suppress(OSError):
        for line in Path("/etc/hosts").read_text().splitlines():
            fields = line.split("#", 1)[0].split()
            if len(fields) < 2 or not (fields[0].startswith("127.") or fields[0] == "::1"):
                continue
            names.extend(n for n in fields[1:] if "localhost" not in n.lower() and n not in names)
    return names[:3]


def spellings(port: int, ipv6: bool) -> list[str]:
    """At least 30 URLs that all mean 127.0.0.1 (or ::1) at ``port``."""
    v4 = [
        f"http://127.0.0.1:{port}/",
        f"https://127.0.0.1:{port}/",
        f"http://2130706433:{port}/",
        f"http://0x7f000001:{port}/",
        f"http://0x7f.1:{port}/",
        f"http://0x7f.0.0.1:{port}/",
        f"http://0177.0.0.1:{port}/",
        f"http://0177.1:{port}/",
        f"http://017700000001:{port}/",
        f"http://127.1:{port}/",
        f"http://127.0.1:{port}/",
        f"http://127.0.0.1.:{port}/",
        f"http://127.000.000.001:{port}/",
        f"http://①②⑦.0.0.1:{port}/",
        f"http://\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11:{port}/",  # fullwidth digits and stops
        f"http://127\u30020\u30020\u30021:{port}/",  # ideographic full stops
        f"http://%31%32%37.0.0.1:{port}/",
        f"http://127.0.0.2@127.0.0.1:{port}/",
        f"http://user:secret@127.0.0.1:{port}/",
        f"http://localhost:{port}/",
        f"http://LOCALHOST.:{port}/",
        f"http://api.localhost:{port}/",
        f"http://0.0.0.0:{port}/",
        f"http://0:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        f"http://[::ffff:7f00:1]:{port}/",
        f"http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/",
        f"http://[::127.0.0.1]:{port}/",
        f"http://[64:ff9b::7f00:1]:{port}/",
    ]
    v6 = [
        f"http://[::1]:{port}/",
        f"http://[0:0:0:0:0:0:0:1]:{port}/",
        f"http://[0::1]:{port}/",
        f"http://127.0.0.2@[::1]:{port}/",
        f"http://[::]:{port}/",
    ]
    names = [f"http://{name}:{port}/" for name in _hosts_file_loopback_names()]
    return v4 + (v6 if ipv6 else []) + names


@dataclass
class Submitted:
    kind: str  # "recuro-url", "recuro-callback", "quedup-url"
    url: str
    status: int
    job_id: str | None


def _submit_all(client: httpx.Client, urls: list[str], receiver: Receiver, tag: str) -> list[Submitted]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out: list[Submitted] = []
    for i, url in enumerate(urls):
        r = client.post("/api/jobs", json={"queue": "egress", "url": url, "method": "GET"})
        out.append(
            Submitted("recuro-url", url, r.status_code, r.json().get("job_id") if r.status_code == 201 else None)
        )
        r = client.post(
            "/api/jobs",
            json={"queue": "egress", "url": receiver.url(f"/egress-{tag}/{i}"), "callback_url": url},
        )
        out.append(
            Submitted("recuro-callback", url, r.status_code, r.json().get("job_id") if r.status_code == 201 else None)
        )
        r = client.post("/jobs", json={"method": "GET", "name": f"egress-{tag}-{i}", "url": url, "run_at": now})
        out.append(Submitted("quedup-url", url, r.status_code, r.json().get("id") if r.status_code == 200 else None))
    return out


def _first_run(client: httpx.Client, job_id: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        runs = client.get(f"/api/jobs/{job_id}").json().get("runs")
        return dict(runs[0]) if runs else None

    return eventually(probe, timeout=30, what=f"a run of job {job_id}")


def _first_store_run(store: ReadModelStore, job_id: str) -> RunView:
    """A QuedUp job keeps retrying for hours and its API shape has no runs: read its first run from the store."""
    return eventually(lambda: next(iter(store.runs(job_id)), None), timeout=30, what=f"a run of job {job_id}")


def _stays(probe: Callable[[], bool], seconds: float) -> bool:
    """True when ``probe`` holds at every poll for ``seconds`` (bounded watch, no single sleep)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not probe():
            return False
        time.sleep(0.05)
    return probe()


def test_no_loopback_spelling_reaches_a_listener(
    stack: Stack, receiver: Receiver, listeners: CountingListeners
) -> None:
    # Given listeners on 127.0.0.1 and ::1 and at least 30 spellings that point at them
    urls = spellings(listeners.port, listeners.ipv6)
    assert len(urls) >= 30
    tag = uuid.uuid4().hex[:8]

    # When each is submitted as a Recuro job URL, a Recuro callback URL and a QuedUp URL, and a control job goes to
    # the allowed receiver
    with stack.client() as client:
        submitted = _submit_all(client, urls, receiver, tag)
        control = client.post("/api/jobs", json={"queue": "egress", "url": receiver.url(f"/egress-{tag}/control")})
        assert control.status_code == 201, control.text

        # Then every submission is a 422 or was accepted (to fail at connect time)
        unexpected = [s for s in submitted if s.status not in (422, 200, 201)]
        assert not unexpected, unexpected
        # And the job to the allowed receiver is delivered
        receiver.wait_for(lambda q: q.path == f"/egress-{tag}/control", timeout=30)

        # And every accepted Recuro job's run failed, naming the egress policy
        for s in submitted:
            if s.kind == "recuro-url" and s.job_id is not None:
                run = _first_run(client, s.job_id)
                assert run["failure_reason"] == "connection_error", (s.url, run)
                assert "egress policy" in (run["error_message"] or ""), (s.url, run)
        # And every accepted QuedUp job's first run failed, naming the egress policy
        store = ReadModelStore(make_engine(stack.settings.resolved_database_url))
        try:
            for s in submitted:
                if s.kind == "quedup-url" and s.job_id is not None:
                    quedup_run = _first_store_run(store, s.job_id)
                    assert quedup_run.failure_reason == "connection_error", (s.url, quedup_run)
                    assert "egress policy" in (quedup_run.error_message or ""), (s.url, quedup_run)
        finally:
            store.engine.dispose()
        # And every accepted callback's job was delivered (its callback is then due at once)
        for i, url in enumerate(urls):
            if any(s.kind == "recuro-callback" and s.url == url and s.job_id for s in submitted):
                path = f"/egress-{tag}/{i}"
                receiver.wait_for(lambda q: q.path == path, timeout=30)  # noqa: B023 - used at once

    # And, watched for a while after all of that, no connection ever reached the listeners
    assert _stays(lambda: listeners.count() == 0, QUIET_SECONDS), listeners.accepted
    refused_at_create = sum(s.status == 422 for s in submitted)
    print(f"{len(submitted)} submissions: {refused_at_create} refused at create, the rest failed at connect")


def test_a_name_resolving_to_loopback_fails_its_run_naming_the_policy(
    stack: Stack, listeners: CountingListeners
) -> None:
    # Given a name the hosts file maps to 127.0.0.1 (no DNS query leaves the machine); ingest cannot know where a
    # name points, so it accepts the job
    names = _hosts_file_loopback_names()
    if not names:
        pytest.skip("/etc/hosts maps no name but localhost to loopback")
    url = f"http://{names[0]}:{listeners.port}/hook"

    with stack.client() as client:
        # When a job to it is pushed
        r = client.post("/api/jobs", json={"queue": "egress", "url": url, "method": "GET"})
        assert r.status_code == 201, r.text

        # Then its run fails at connect time, naming the egress policy and the address the name resolved to
        run = _first_run(client, r.json()["job_id"])
    assert run["failure_reason"] == "connection_error", run
    assert "egress policy" in run["error_message"] and "127.0.0.1" in run["error_message"], run
    # And nothing reached the listener
    assert listeners.count() == 0


def test_localhost_is_refused_at_create(stack: Stack) -> None:
    # Given / When a job to localhost is pushed / Then it is a 422 naming the policy (localhost is always loopback)
    with stack.client() as client:
        r = client.post("/api/jobs", json={"queue": "egress", "url": "http://localhost:9/"})
    assert r.status_code == 422, r.text
    assert "egress policy" in r.text
