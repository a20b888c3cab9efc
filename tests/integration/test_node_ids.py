"""Integer ids stay unique across ingest processes sharing one database: each leases its own node id (decision 0013)."""

from __future__ import annotations

import multiprocessing
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from chronohook.clock import SystemClock
from chronohook.ids import NODE_BITS, SEQUENCE_BITS
from chronohook.store.engine import create_schema, make_engine
from chronohook.store.leases import leased_ids
from chronohook.store.tables import node_leases
from chronohook.store.tokens import create_token
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.support.receiver import RECEIVER_HOST

PROCESSES = 4
IDS_EACH = 20_000


def node_of(snowflake: int) -> int:
    return (snowflake >> SEQUENCE_BITS) & ((1 << NODE_BITS) - 1)


def _mint(url: str, count: int, leased: Queue[int], go: Event, out: Queue[list[int]]) -> None:
    """One process: lease a node id, wait for the others, mint ``count`` ids as fast as it can, give the id back."""
    engine = make_engine(url)
    ids = leased_ids(engine, SystemClock())
    leased.put(ids.node_id)
    go.wait(60)
    minted = [ids.next_id() for _ in range(count)]
    ids.close()
    engine.dispose()
    out.put(minted)


def test_processes_minting_at_once_against_one_database_never_collide(tmp_path: Path) -> None:
    # Given one SQLite database and four processes, none told a node id, each leasing one
    url = f"sqlite:///{tmp_path / 'chronohook.db'}"
    engine = make_engine(url)
    create_schema(engine)
    engine.dispose()
    spawn = multiprocessing.get_context("spawn")
    leased: Queue[int] = spawn.Queue()
    out: Queue[list[int]] = spawn.Queue()
    go = spawn.Event()
    procs = [spawn.Process(target=_mint, args=(url, IDS_EACH, leased, go, out)) for _ in range(PROCESSES)]
    for proc in procs:
        proc.start()
    try:
        nodes = [leased.get(timeout=60) for _ in procs]

        # When all of them mint 20,000 ids at the same moment
        go.set()
        minted = [out.get(timeout=120) for _ in procs]
    finally:
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()

    # Then each held its own node id, and no id was minted twice
    assert len(set(nodes)) == PROCESSES
    every = [i for batch in minted for i in batch]
    assert len(every) == PROCESSES * IDS_EACH
    assert len(set(every)) == len(every)
    assert {node_of(i) for i in every} == set(nodes)


@dataclass
class Ingests:
    base_url: str
    data_dir: Path
    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]]

    @property
    def db(self) -> Path:
        return self.data_dir / "chronohook.db"


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _serve_ingest(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "chronohook.cli", "serve", "ingest"], env=env, stdout=handle, stderr=handle
        )


@pytest.fixture(scope="module")
def ingests(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingests]:
    """Two ingest processes on one API port and one database, CHRONOHOOK_NODE_ID unset (as docker-compose now has)."""
    root = tmp_path_factory.mktemp("node-ids")
    data_dir = root / "data"  # made by the services themselves
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "CHRONOHOOK_NODE_ID"}
    env.update(
        CHRONOHOOK_DATA_DIR=str(data_dir),
        CHRONOHOOK_KAFKA_BOOTSTRAP=kafka_bootstrap,
        CHRONOHOOK_API_PORT=str(port),
        CHRONOHOOK_TOPIC_PREFIX=f"nodeids-{os.getpid()}-{time.monotonic_ns()}",
        CHRONOHOOK_PARTITIONS="3",
        CHRONOHOOK_EGRESS_ALLOW=f"{RECEIVER_HOST}/32",
        CHRONOHOOK_LOG_LEVEL="WARNING",
    )
    procs = [_serve_ingest(env, root / f"ingest-{i}.log") for i in range(2)]
    base = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: _ready(f"{base}/readyz"), timeout=90, what="ingest /readyz")
        # Both processes hold a lease (the second may still be starting when the first answers).
        eventually(lambda: len(_held(data_dir / "chronohook.db")) == 2, timeout=60, what="two leases")
        yield Ingests(base, data_dir, env, procs)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _held(db: Path) -> dict[int, str]:
    """Live leases: node id -> holder."""
    if not db.exists():
        return {}
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(node_leases)).all()
    except SQLAlchemyError:  # the schema may not be there yet while the services start
        return {}
    finally:
        engine.dispose()
    now_ms = time.time() * 1000
    return {row.node_id: row.holder_info for row in rows if row.expires_ms > now_ms}


def test_two_ingest_processes_on_one_port_mint_distinct_ids(ingests: Ingests) -> None:
    # Given a token, and two ingest processes sharing the port (the kernel spreads connections between them)
    engine = make_engine(f"sqlite:///{ingests.db}")
    token = create_token(engine, "node-ids")
    engine.dispose()
    headers = {"Authorization": f"Bearer {token}"}
    job = {"queue": "ids", "url": f"http://{RECEIVER_HOST}/never", "delay": 3600}

    def push(_: int) -> int:
        # A new connection each time, so both processes take some.
        r = httpx.post(f"{ingests.base_url}/api/jobs", json=job, headers=headers, timeout=30)
        assert r.status_code == 201, r.text
        return int(r.json()["job_id"])

    # When jobs are pushed from 8 threads until both processes minted some (bounded: 1,500 jobs at most)
    minted: list[int] = []
    with ThreadPoolExecutor(8) as pool:
        for _ in range(15):
            minted += pool.map(push, range(100))
            if len({node_of(i) for i in minted}) >= 2 and len(minted) >= 300:
                break

    # Then ids came from the two leased node ids, and none repeats
    assert {node_of(i) for i in minted} == set(_held(ingests.db))
    assert len(set(minted)) == len(minted)


def test_an_explicit_node_id_held_by_a_running_process_is_refused_at_start(ingests: Ingests, tmp_path: Path) -> None:
    # Given a node id one of the running processes holds
    taken = min(_held(ingests.db))

    # When a third ingest process is started with CHRONOHOOK_NODE_ID set to it
    log = tmp_path / "refused.log"
    env = ingests.env | {"CHRONOHOOK_NODE_ID": str(taken), "CHRONOHOOK_API_PORT": str(free_port())}
    proc = _serve_ingest(env, log)
    try:
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # Then it refuses to start, saying which node id is taken and which setting to change
    assert code != 0
    out = log.read_text()
    assert "NodeIdTaken" in out
    assert f"node id {taken} (CHRONOHOOK_NODE_ID) is held by a live process" in out


def test_the_data_the_services_created_is_owner_only(ingests: Ingests) -> None:
    # Given the data directory and database the ingest processes created (under `chronohook serve`'s umask)
    # Then the directory is 0700 and the database and its WAL files 0600
    files = [ingests.db, Path(f"{ingests.db}-wal"), Path(f"{ingests.db}-shm")]
    assert stat.S_IMODE(ingests.data_dir.stat().st_mode) == 0o700
    assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {f.name: 0o600 for f in files}
