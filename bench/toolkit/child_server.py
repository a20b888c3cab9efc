"""A bench server in a child process, driven over a pipe: it binds a loopback port, tells the parent, answers the
parent's commands, and stops when told, when the parent goes away, or after its lifetime (a bench that forgets to
close it does not leave it running for ever)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

# ``answer`` returns this for a command that means "stop".
STOP = object()


def loopback_socket(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


async def serve_commands(
    conn: Connection, sock: socket.socket, answer: Callable[[Any], Any], lifetime_s: float
) -> None:
    """Send the parent ``sock``'s port, then each command's ``answer`` until one answers STOP."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_command() -> None:
        # The event loop made the pipe non-blocking; a big answer must wait for the reader, not fail.
        os.set_blocking(conn.fileno(), True)
        try:
            command = conn.recv()
        except EOFError:  # the bench went away
            stop.set()
            return
        reply = answer(command)
        if reply is STOP:
            stop.set()
        else:
            conn.send(reply)

    loop.add_reader(conn.fileno(), on_command)
    conn.send(sock.getsockname()[1])
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(lifetime_s):
            await stop.wait()
    loop.remove_reader(conn.fileno())
