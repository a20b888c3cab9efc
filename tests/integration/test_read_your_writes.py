"""Read-your-writes whichever API process answers (decision 0035): a stack of its own with 4 ingest processes on
one port (SO_REUSEPORT), on the session broker; every request on a new connection, so the kernel spreads them over
the four. 200 create-then-list pairs (QuedUp jobs, Recuro crons, queues, dead-letter replays), half carrying the
write's X-Chronohook-Position header and half not (the tenant's watermark): none may miss its write."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from chronohook.store.engine import create_schema, make_engine
from chronohook.store.tokens import create_token
from services.ingest.consistency import POSITION_HEADER, STALE_HEADER
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.support.receiver import Receiver
from tests.support.services import running_services, services_env

WORKERS = 4
Params = dict[str, str | int]
PAIRS_EACH = 50  # x 4 kinds = 200 pairs


@dataclass
class FourWorkers:
    base_url: str
    token: str

    def client(self) -> httpx.Client:
        # No keep-alive: each request is a new connection, which the kernel hands to any of the four processes.
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
            limits=httpx.Limits(max_keepalive_connections=0),
        )


@pytest.fixture(scope="module")
def four_workers(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, receiver: Receiver
) -> Iterator[FourWorkers]:
    """The four services, ingest as 4 processes, on a fresh topic prefix and database; stopped at the end."""
    data_dir: Path = tmp_path_factory.mktemp("ryw")
    port = free_port()
    engine = make_engine(f"sqlite:///{(data_dir / 'chronohook.db').resolve()}")
    create_schema(engine)
    token = create_token(engine, f"ryw-{secrets.token_hex(3)}")
    engine.dispose()
    env = services_env(data_dir, kafka_bootstrap, port, f"ryw-{secrets.token_hex(4)}")
    env.pop("CHRONOHOOK_READ_YOUR_WRITES_WAIT_S", None)  # the default bound, 2 s
    with running_services(env, data_dir, token, receiver, "/ryw-warmup", api_workers=WORKERS):
        yield FourWorkers(f"http://127.0.0.1:{port}", token)


@dataclass
class Tally:
    misses: list[str] = field(default_factory=list)
    stale: int = 0

    def read(self, c: httpx.Client, path: str, params: Params, written: httpx.Response, index: int) -> Any:
        """GET ``path``, carrying ``written``'s position on even pairs; the body."""
        headers = {POSITION_HEADER: written.headers[POSITION_HEADER]} if index % 2 == 0 else {}
        r = c.get(path, params=params, headers=headers)
        assert r.status_code == 200, r.text
        self.stale += r.headers.get(STALE_HEADER) == "true"
        return r.json()

    def check(self, seen: bool, what: str) -> None:
        if not seen:
            self.misses.append(what)


def test_every_create_is_in_the_next_list_whichever_process_answers(
    four_workers: FourWorkers, receiver: Receiver
) -> None:
    tally = Tally()
    with four_workers.client() as c:
        # Given 50 dead letters: a queue retrying once, a second later, and jobs whose every attempt answers 500
        dlq = f"dlq-{secrets.token_hex(3)}"
        assert c.patch(f"/api/queues/{dlq}", json={"retry_delays": [1]}).status_code == 200
        url = receiver.url(f"/status/500/ryw-{dlq}")
        pushed = c.post("/api/jobs/batch", json={"jobs": [{"queue": dlq, "url": url, "delay": 1}] * PAIRS_EACH})
        assert pushed.status_code == 201, pushed.text
        letters = [j["job_id"] for j in pushed.json()["jobs"]]
        per_page: Params = {"queue": dlq, "per_page": 100}
        eventually(
            lambda: len(c.get("/api/dead-letters", params=per_page).json()["data"]) == PAIRS_EACH,
            timeout=45,
            what="50 dead letters",
        )

        # When each kind of write is followed at once by the list that must show it
        for i in range(PAIRS_EACH):
            job = c.post(
                "/jobs",
                json={
                    "method": "POST",
                    "name": f"ryw-{i}",
                    "url": receiver.url("/never"),
                    "run_at": "2099-01-01T00:00:00Z",
                },
            )
            assert job.status_code == 200, job.text
            listed = tally.read(c, "/jobs", {"limit": 1000}, job, i)
            tally.check(job.json()["id"] in {j["id"] for j in listed}, f"QuedUp job {i}")

            cron = c.post(
                "/api/crons", json={"name": f"c{i}", "url": receiver.url("/never"), "cron_expression": "0 0 1 1 *"}
            )
            assert cron.status_code == 201, cron.text
            listed = tally.read(c, "/api/crons", {"per_page": 100}, cron, i)
            tally.check(cron.json()["id"] in {x["id"] for x in listed["data"]}, f"cron {i}")

            queue = c.patch(f"/api/queues/q{i}", json={"timeout_seconds": 5})
            assert queue.status_code == 200, queue.text
            listed = tally.read(c, "/api/queues", {"per_page": 100}, queue, i)
            tally.check(f"q{i}" in {x["name"] for x in listed["data"]}, f"queue {i}")

            replay = c.post(f"/api/dead-letters/{letters[i]}/replay")
            assert replay.status_code == 201, replay.text
            listed = tally.read(c, "/api/dead-letters", per_page, replay, i)
            tally.check(letters[i] not in {d["job_id"] for d in listed["data"]}, f"replay {i}")

    # Then no list missed the write just answered, and none gave up waiting
    assert tally.misses == []
    assert tally.stale == 0
