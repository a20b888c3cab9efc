"""A local HTTP receiver that records every request it gets, with its arrival time."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Received:
    at: float  # time.time() on arrival
    method: str
    path: str
    headers: dict[str, str]
    body: str


# The stack's egress guard allows this address alone (CHRONOHOOK_EGRESS_ALLOW in tests/conftest.py): every other
# loopback spelling must be refused, so listeners on 127.0.0.1 and ::1 can prove that nothing reached them.
RECEIVER_HOST = "127.0.0.2"
# A second allowed address, for a test that needs targets on two hosts (a slow one beside a quick one).
SECOND_HOST = "127.0.0.3"
ALLOWED_HOSTS = (RECEIVER_HOST, SECOND_HOST)


class _Server(http.server.ThreadingHTTPServer):
    # A burst of due jobs must not overflow the accept queue: that shows up as timeouts that are the test's own.
    request_queue_size = 1024
    daemon_threads = True


class Receiver:
    """Answers 200, or the status in the path for ``/status/<code>/...``; on a loopback address only."""

    def __init__(self, host: str = RECEIVER_HOST) -> None:
        self.host = host
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                at = time.time()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode(errors="replace") if length else ""
                with receiver._lock:
                    receiver.requests.append(
                        Received(at, self.command, self.path, {k: v for k, v in self.headers.items()}, body)
                    )
                status = 200
                parts = self.path.split("/")
                if len(parts) > 2 and parts[1] == "status" and parts[2].isdigit():
                    status = int(parts[2])
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *_args: object) -> None:
                return None

        self._server = _Server((host, 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def matching(self, predicate: Callable[[Received], bool]) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if predicate(r)]

    def wait_for(self, predicate: Callable[[Received], bool], count: int = 1, timeout: float = 15.0) -> list[Received]:
        """Poll until ``count`` requests match, or fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.matching(predicate)
            if len(found) >= count:
                return found
            time.sleep(0.005)
        raise AssertionError(
            f"expected {count} matching requests within {timeout} s, got {len(self.matching(predicate))}"
        )

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
