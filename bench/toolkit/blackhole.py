"""A loopback host that accepts connections and never answers, in its own process: a partner API that hangs.

It listens on 127.0.0.1 with a backlog of 4,096, accepts every connection, reads (and drops) whatever is sent,
and never writes a byte; every connection stays open until the client gives up or the host is closed. It counts
the connections it accepted and the requests it saw (a request head ends in a blank line), for the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from multiprocessing.connection import Connection
from typing import Any, cast

from bench.toolkit.child_server import STOP, loopback_socket, serve_commands

HOST = "127.0.0.1"
BACKLOG = 4096
LIFETIME_S = 3 * 3600.0  # a bench that forgets to close it does not leave it running for ever


class _Silent(asyncio.Protocol):
    def __init__(self, counts: dict[str, int], open_transports: set[asyncio.BaseTransport]) -> None:
        self._counts = counts
        self._open = open_transports
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._open.add(transport)
        self._counts["connections"] += 1

    def data_received(self, data: bytes) -> None:
        self._counts["requests"] += data.count(b"\r\n\r\n")  # read, never answered

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002
        if self._transport is not None:
            self._open.discard(self._transport)
        self._counts["closed"] += 1


def _serve(conn: Connection) -> None:
    counts = {"connections": 0, "requests": 0, "closed": 0}
    open_transports: set[asyncio.BaseTransport] = set()

    def answer(command: object) -> object:
        return dict(counts, open=len(open_transports)) if command == "counts" else STOP

    async def main() -> None:
        loop = asyncio.get_running_loop()
        sock = loopback_socket(HOST)
        server = await loop.create_server(lambda: _Silent(counts, open_transports), sock=sock, backlog=BACKLOG)
        await serve_commands(conn, sock, answer, LIFETIME_S)
        server.close()
        for transport in list(open_transports):
            cast(asyncio.Transport, transport).abort()

    asyncio.run(main())


class BlackHole:
    """``with BlackHole() as hole``: ``hole.url(path)``, ``hole.counts()``; closed, its connections too, on exit."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process: Any = ctx.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        child.close()
        if not self._conn.poll(30):
            raise RuntimeError("the black hole did not start within 30 s")
        self.port: int = self._conn.recv()

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def counts(self) -> dict[str, int]:
        """Connections accepted, requests read, connections closed by the client, and those still open."""
        self._conn.send("counts")
        if not self._conn.poll(10):
            raise RuntimeError("the black hole did not answer within 10 s")
        return cast(dict[str, int], self._conn.recv())

    def close(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self._conn.send("stop")
        deadline = time.monotonic() + 5
        self._process.join(max(0.0, deadline - time.monotonic()))
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._conn.close()

    def __enter__(self) -> BlackHole:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
