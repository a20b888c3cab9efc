"""Runs the four services as child processes and restarts any that dies. Used by ``chronohook dev`` and tests."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from chronohook.metrics_ports import DEFAULT_BASE_PORT, child_port

# The inherited API socket's number in an ingest child's environment (Settings.api_socket_fd).
API_SOCKET_FD_ENV = "CHRONOHOOK_API_SOCKET_FD"

log = logging.getLogger("chronohook.supervisor")

SERVICES = ("projector", "timer", "executor", "ingest")
RESTART_BACKOFF = (0.5, 1.0, 2.0, 5.0)


@dataclass
class Child:
    name: str
    service: str
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0


@dataclass
class Supervisor:
    env: dict[str, str]
    log_dir: Path | None = None
    services: tuple[str, ...] = SERVICES
    # Ingest processes sharing the API port. Each leases a free node id for its job ids (decision 0013); only when
    # CHRONOHOOK_NODE_ID is set does each get its own explicit one, that id + i.
    api_workers: int = 1
    # Executor processes (one consumer group): ``executor`` alone, else ``executor-1`` .. ``executor-N``.
    executors: int = 1
    # Listening API sockets bound by `chronohook dev`, one per ingest worker (decision 0037): worker i inherits the
    # i-th (and gets it back when restarted) instead of binding the port itself. Empty: each worker binds its own.
    api_sockets: tuple[socket.socket, ...] = ()
    # With several workers: binds a fresh socket for a restarted worker, its dead predecessor's being closed at once so
    # the kernel stops handing it connections. None (one worker): the one socket is kept; connections wait in its
    # backlog while the worker restarts, and the port is never let go.
    rebind_api_socket: Callable[[], socket.socket] | None = None
    children: dict[str, Child] = field(default_factory=dict)
    # Metrics (decision 0042): the ingest workers pool theirs in a fresh directory made at start; every other child
    # serves its own on a port of its own (chronohook/metrics_ports.py).
    api_metrics_dir: Path | None = None

    def start(self) -> None:
        self.api_metrics_dir = Path(tempfile.mkdtemp(prefix="chronohook-api-metrics-"))
        for service in self.services:
            for name, env in self._instances(service):
                child = Child(name, service, env)
                self.children[name] = child
                self._spawn(child)

    def _instances(self, service: str) -> list[tuple[str, dict[str, str]]]:
        if service == "executor" and self.executors > 1:
            return [
                (name, self._child_env(name, self.env)) for name in (f"executor-{i + 1}" for i in range(self.executors))
            ]
        if service != "ingest":
            return [(service, self._child_env(service, self.env))]
        return [(name, self._with_socket(i, env)) for i, (name, env) in enumerate(self._ingest_instances())]

    def _ingest_instances(self) -> list[tuple[str, dict[str, str]]]:
        if self.api_workers == 1:
            return [("ingest", self._child_env("ingest", self.env))]
        names = [f"ingest-{i + 1}" for i in range(self.api_workers)]
        if "CHRONOHOOK_NODE_ID" not in self.env:
            return [(name, self._child_env(name, self.env)) for name in names]
        base = int(self.env["CHRONOHOOK_NODE_ID"])
        return [
            (name, self._child_env(name, {**self.env, "CHRONOHOOK_NODE_ID": str(base + i)}))
            for i, name in enumerate(names)
        ]

    def _with_socket(self, i: int, env: dict[str, str]) -> dict[str, str]:
        if not self.api_sockets:
            return env
        return {**env, API_SOCKET_FD_ENV: str(self.api_sockets[i].fileno())}

    def _child_env(self, name: str, env: dict[str, str]) -> dict[str, str]:
        """Each child's own consumer group instance id: the topic prefix (one supervisor per prefix) and the child's
        name, so a restarted child reclaims its partitions at once and no two processes ever share an id. The timer
        also leases its transactional id's number under it (its claim key, decision 0013): restarted, it takes the
        same number back at once and so aborts the transaction its killed predecessor left open."""
        prefix = env.get("CHRONOHOOK_TOPIC_PREFIX", "chronohook")
        return {**env, "CHRONOHOOK_GROUP_INSTANCE_ID": f"{prefix}.{name}", **self._metrics_env(name)}

    def _metrics_env(self, name: str) -> dict[str, str]:
        port = child_port(self.metrics_base_port, name)
        if port is not None:
            return {"CHRONOHOOK_METRICS_PORT": str(port)}
        return {"CHRONOHOOK_API_METRICS_DIR": str(self.api_metrics_dir)} if name.startswith("ingest") else {}

    @property
    def metrics_base_port(self) -> int:
        return int(self.env.get("CHRONOHOOK_METRICS_BASE_PORT", DEFAULT_BASE_PORT))

    def metrics_ports(self) -> dict[str, int]:
        """Each child's metrics port but the ingest workers' (theirs is the API port)."""
        ports = {name: child_port(self.metrics_base_port, name) for name in self.children}
        return {name: port for name, port in ports.items() if port is not None}

    def _spawn(self, child: Child) -> None:
        handle: BinaryIO | None = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            handle = (self.log_dir / f"{child.name}.log").open("ab")
        inherited = child.env.get(API_SOCKET_FD_ENV) if child.service == "ingest" else None
        child.process = subprocess.Popen(
            [sys.executable, "-m", "chronohook.cli", "serve", child.service],
            env=child.env,
            pass_fds=(int(inherited),) if inherited is not None else (),
            stdout=handle,
            stderr=subprocess.STDOUT if handle is not None else None,
        )
        if handle is not None:
            handle.close()
        child.started_at = time.monotonic()
        log.info("started %s (pid %d)", child.name, child.process.pid)

    def check(self) -> list[str]:
        """Restart every child that exited; return their names."""
        restarted = []
        for child in self.children.values():
            proc = child.process
            if proc is None or proc.poll() is None:
                continue
            if time.monotonic() - child.started_at > 30:
                child.restarts = 0
            delay = RESTART_BACKOFF[min(child.restarts, len(RESTART_BACKOFF) - 1)]
            log.warning("%s exited with %s; restarting in %.1f s", child.name, proc.returncode, delay)
            fresh = self._fresh_socket(child)
            time.sleep(delay)
            fresh()
            child.restarts += 1
            self._spawn(child)
            restarted.append(child.name)
        return restarted

    def _fresh_socket(self, child: Child) -> Callable[[], None]:
        """Close a dead ingest worker's inherited socket now, so the kernel hands it no more connections; return what
        gives the worker a fresh one before its restart. Nothing to do without ``rebind_api_socket`` (one worker)."""
        fd = child.env.get(API_SOCKET_FD_ENV)
        if child.service != "ingest" or fd is None or self.rebind_api_socket is None:
            return lambda: None
        rebind = self.rebind_api_socket
        old = next(sock for sock in self.api_sockets if sock.fileno() == int(fd))
        old.close()  # its queued connections are lost, as when each worker bound its own socket

        def fresh() -> None:
            try:
                new = rebind()
            except OSError as exc:  # the worker then binds its own, as `chronohook serve ingest` does
                log.error("%s: no fresh API socket (%s); it binds its own", child.name, exc)
                self.api_sockets = tuple(sock for sock in self.api_sockets if sock is not old)
                child.env = {k: v for k, v in child.env.items() if k != API_SOCKET_FD_ENV}
                return
            self.api_sockets = tuple(new if sock is old else sock for sock in self.api_sockets)
            child.env = {**child.env, API_SOCKET_FD_ENV: str(new.fileno())}

        return fresh

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        """Signal one child (kill -9 by default), for fault tests; returns its pid."""
        proc = self.children[name].process
        assert proc is not None
        os.kill(proc.pid, sig)
        proc.wait()
        return proc.pid

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(0.2):
            self.check()

    def stop(self, timeout: float = 15.0) -> None:
        procs = [c.process for c in self.children.values() if c.process is not None and c.process.poll() is None]
        for proc in procs:
            proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.api_metrics_dir is not None:
            shutil.rmtree(self.api_metrics_dir, ignore_errors=True)
