"""A recording HTTP receiver in its own process: answers ``200`` at once and notes (arrival time, path, webhook-id).

Benchmarks encode what they need to know in the path (``/b/<tag>/<seq>/<due_ms>``), so the receiver stays
a few lines of ``asyncio.Protocol`` and its cost per request is near the floor of what Python can do.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, cast

from bench.toolkit.child_server import STOP, loopback_socket, serve_commands
from bench.toolkit.http1 import content_length

HOST = "127.0.0.1"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
LIFETIME_S = 6 * 3600.0


@dataclass(frozen=True)
class Arrival:
    at_ns: int  # time.time_ns() when the request was complete
    path: str
    webhook_id: str = ""  # the Standard Webhooks header: the same on every delivery of one occurrence

    @property
    def parts(self) -> list[str]:
        return self.path.split("/")


class _Recording(asyncio.Protocol):
    def __init__(self, log: list[tuple[int, str, str]]) -> None:
        self._buf = bytearray()
        self._log = log
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None:
            return
        buf = self._buf
        buf += data
        answers = 0
        while True:
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                break
            head = bytes(buf[:head_end])
            lower = head.lower()
            try:
                length = content_length(lower)
            except ValueError:
                transport.close()
                return
            total = head_end + 4 + length
            if len(buf) < total:
                break
            del buf[:total]
            line = head.split(b"\r\n", 1)[0].split(b" ")
            path = line[1].decode("latin-1") if len(line) > 1 else ""
            self._log.append((time.time_ns(), path, _webhook_id(head, lower)))
            answers += 1
        if answers:
            transport.write(RESPONSE * answers)

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002
        self._transport = None


def _webhook_id(head: bytes, lower: bytes) -> str:
    """The ``webhook-id`` header's value as sent (case kept), or "" when the request has none."""
    start = lower.find(b"\r\nwebhook-id:")
    if start < 0:
        return ""
    start += len(b"\r\nwebhook-id:")
    end = head.find(b"\r\n", start)
    return head[start : end if end >= 0 else len(head)].strip().decode("latin-1")


def _serve(conn: Connection, cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    import uvloop

    log: list[tuple[int, str, str]] = []

    def answer(command: object) -> object:
        if command == "count":
            return len(log)
        if command == "take":
            taken = list(log)
            log.clear()
            return taken
        return STOP

    async def main() -> None:
        loop = asyncio.get_running_loop()
        sock = loopback_socket(HOST)
        server = await loop.create_server(lambda: _Recording(log), sock=sock, backlog=4096)
        await serve_commands(conn, sock, answer, LIFETIME_S)
        server.close()

    uvloop.run(main())


class RecordingReceiver:
    """Start with ``with RecordingReceiver() as r``; ``r.url(path)``, ``r.count()``, ``r.take()``."""

    def __init__(self, cpu: int | None = None) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process: Any = ctx.Process(target=_serve, args=(child, cpu), daemon=True)
        self._process.start()
        child.close()
        if not self._conn.poll(30):
            raise RuntimeError("the receiver did not start within 30 s")
        self.port: int = self._conn.recv()

    @property
    def pid(self) -> int:
        return int(self._process.pid)

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def count(self) -> int:
        self._conn.send("count")
        return cast(int, self._conn.recv())

    def take(self) -> list[Arrival]:
        """Every arrival since the last ``take``, in arrival order."""
        self._conn.send("take")
        return [Arrival(at, path, webhook_id) for at, path, webhook_id in self._conn.recv()]

    def wait_for_count(self, count: int, timeout: float, on_tick: Any = None) -> int:
        """Poll until ``count`` arrivals or ``timeout`` seconds; return the count reached."""
        deadline = time.monotonic() + timeout
        seen = self.count()
        while seen < count and time.monotonic() < deadline:
            time.sleep(0.05)
            seen = self.count()
            if on_tick is not None:
                on_tick(seen)
        return seen

    def close(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self._conn.send("stop")
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
        self._conn.close()

    def __enter__(self) -> RecordingReceiver:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
