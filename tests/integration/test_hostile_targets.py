"""End to end on the real broker: targets that answer badly end as recorded runs, and nothing restarts.

A hostile target on SECOND_HOST (127.0.0.3, allowed by the stack's egress policy) answers one path with a header
holding a byte that is not UTF-8, one with a 50 MB body, and one with 16 KB; the session receiver then gets an
ordinary job on time.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from chronohook.readmodel.store import ReadModelStore
from chronohook.readmodel.views import RunView
from chronohook.store.engine import make_engine
from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import SECOND_HOST, Receiver

PRECISION = 0.100  # seconds, as tests/integration/test_pipeline.py measures delivery
BIG_BODY = 50 * 1024 * 1024
CHUNK = 64 * 1024


class HostileTarget:
    """A raw HTTP/1.1 server in its own thread and loop; each path answers in a way no well-behaved server would."""

    def __init__(self, host: str = SECOND_HOST) -> None:
        self.host = host
        self.port = 0
        self.bytes_sent = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._run, name="hostile-target", daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the hostile target did not start"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            # A burst of jobs must not overflow the accept queue (timeouts that would be the test's own).
            self._server = await asyncio.start_server(self._serve, self.host, 0, backlog=1024)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode()
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    await reader.readexactly(int(value))  # the whole request first: closing early would reset it
            if path.startswith("/xff"):
                writer.write(
                    b"HTTP/1.1 200 OK\r\nX-Bad: caf\xff\xfe\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                )
            elif path.startswith("/big"):
                writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {BIG_BODY}\r\nConnection: close\r\n\r\n".encode())
                chunk = b"x" * CHUNK
                for _ in range(BIG_BODY // CHUNK):  # bounded: 800 chunks at most
                    writer.write(chunk)
                    await writer.drain()
                    self.bytes_sent += CHUNK
            else:
                body = b"y" * 16_384
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 16384\r\nConnection: close\r\n\r\n" + body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the executor hung up once it had read its capped share: that is the point
        finally:
            writer.close()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def close(self) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def hostile() -> Iterator[HostileTarget]:
    target = HostileTarget()
    try:
        yield target
    finally:
        target.close()


@pytest.fixture
def store(stack: Stack) -> Iterator[ReadModelStore]:
    engine = make_engine(stack.settings.resolved_database_url)
    try:
        yield ReadModelStore(engine)
    finally:
        engine.dispose()


def _incarnations(stack: Stack) -> dict[str, tuple[int | None, int]]:
    return {
        name: (child.process.pid if child.process and child.process.poll() is None else None, child.restarts)
        for name, child in stack.supervisor.children.items()
    }


def _run_of(store: ReadModelStore, job_id: str) -> RunView:
    return eventually(lambda: next(iter(store.runs(job_id)), None), timeout=60, what=f"a run of {job_id}")


def test_hostile_answers_end_as_recorded_runs_and_nothing_restarts(
    stack: Stack, receiver: Receiver, hostile: HostileTarget, store: ReadModelStore
) -> None:
    # Given the services as they run now
    before = _incarnations(stack)
    with stack.client() as c:
        # When one job's target answers with a non-UTF-8 header byte and another's with a 50 MB body
        pushed = {}
        for path in ("/xff", "/big"):
            r = c.post("/api/jobs", json={"queue": "hostile", "url": hostile.url(path), "method": "GET"})
            assert r.status_code == 201, r.text
            pushed[path] = r.json()["job_id"]
        # And a QuedUp job carries a ~990,000-character body to a target answering with 16 KB
        r = c.post(
            "/jobs",
            json={"method": "POST", "name": "huge", "url": hostile.url("/16k"), "body": "b" * 990_000},
        )
        assert r.status_code == 200, r.text
        quedup_id = r.json()["id"]
        # Then each ends as a recorded run with valid text and an exact truncated flag
        xff = _run_of(store, f"rj_{pushed['/xff']}")
        assert xff.response_status == 200
        assert xff.response_headers["X-Bad"].startswith("caf")
        xff.model_dump_json().encode("utf-8")  # storable as UTF-8 JSON
        big = _run_of(store, f"rj_{pushed['/big']}")
        assert big.response_status == 200 and big.response_truncated is True
        assert big.response_body is not None and len(big.response_body) <= 16_384
        huge = _run_of(store, quedup_id)
        assert huge.response_status == 200 and huge.response_truncated is False
        assert huge.request_body is not None and len(huge.request_body) == 990_000
        # And the 50 MB were not drained: the executor hung up long before the end
        assert hostile.bytes_sent < BIG_BODY
        # When an ordinary job falls due afterwards
        due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
        r = c.post(
            "/api/jobs",
            json={"queue": "after", "url": receiver.url("/after-hostile"), "run_at": due.isoformat()},
        )
        assert r.status_code == 201, r.text
    [got] = receiver.wait_for(lambda q: q.path == "/after-hostile", timeout=15)
    # Then it arrives on time
    lateness = got.at - due.timestamp()
    assert -0.01 <= lateness <= PRECISION, f"arrived {lateness * 1000:.1f} ms after due"
    # And no service restarted meanwhile
    assert _incarnations(stack) == before
