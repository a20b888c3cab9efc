"""The black-hole host of ``bench.burst --scenario blackhole``: accepts, reads, never answers; closed at the end."""

from __future__ import annotations

import contextlib
import socket

import pytest

from bench.toolkit.blackhole import BlackHole
from tests.support.polling import eventually

REQUEST = b"POST /h/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}"


def test_accepts_reads_and_never_answers() -> None:
    # Given a black hole
    with BlackHole() as hole:
        assert hole.url("/h/1").startswith("http://127.0.0.1:")
        # When a client connects and sends a request
        with socket.create_connection(("127.0.0.1", hole.port), timeout=5) as client:
            client.sendall(REQUEST)
            # Then the connection is accepted and the request read
            eventually(lambda: hole.counts()["requests"] == 1, timeout=10)
            assert hole.counts()["connections"] == 1
            # And no byte ever comes back while it is open
            client.settimeout(0.3)
            with pytest.raises(TimeoutError):
                client.recv(1)
            # When the black hole is closed, Then the connection is dropped, not answered
            client.settimeout(10)
            hole.close()
            with contextlib.suppress(ConnectionResetError):  # dropped either way: an end of file or a reset
                assert client.recv(1) == b""
