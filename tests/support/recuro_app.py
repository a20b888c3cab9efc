"""An ingest app for Recuro-job API tests: FastAPI's TestClient over an in-memory event log and a SQLite read model,
tokens for tenants t1 and t2, jobs pushed through the API and projected when the test says so."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from fastapi.testclient import TestClient

from chronohook.clock import FixedClock
from chronohook.kafka.log import InMemoryEventLog
from chronohook.readmodel.store import PROJECTOR_CONSUMER, Consumed
from chronohook.settings import Settings
from chronohook.store.tokens import create_token
from schemas.codec import decode_event
from services.ingest.app import build_context, create_app
from services.ingest.context import IngestContext

NOW = datetime(2026, 4, 10, 14, 5, 0, tzinfo=UTC)  # every job is created at this instant: ids break the ties
TARGET = "http://127.0.0.2:9/hook"


@dataclass
class RecuroApi:
    client: TestClient
    ctx: IngestContext
    log: InMemoryEventLog
    t1: dict[str, str]
    t2: dict[str, str]

    def project(self) -> None:
        batch = [
            Consumed(self.ctx.topic, 0, offset, decode_event(value))
            for offset, (_, value, _) in enumerate(self.log.records)
        ]
        self.ctx.store.apply(PROJECTOR_CONSUMER, batch, NOW)

    def push(self, queue: str, headers: dict[str, str], n: int = 1) -> list[int]:
        ids = []
        for i in range(n):
            job = {"queue": queue, "url": TARGET, "payload": {"i": i}}
            r = self.client.post("/api/jobs", json=job, headers=headers)
            assert r.status_code == 201, r.text
            ids.append(int(r.json()["job_id"]))
        return ids


A = TypeVar("A", bound=RecuroApi)


@contextmanager
def recuro_app(tmp_path: Path, kind: type[A]) -> Iterator[A]:
    """An ingest app on a fixed clock (``NOW``), an in-memory log and tokens for tenants t1 and t2."""
    log = InMemoryEventLog()
    ctx = build_context(Settings(data_dir=tmp_path, egress_allow="127.0.0.2/32"), FixedClock(NOW), log=log)
    t1 = create_token(ctx.engine, "t1")
    t2 = create_token(ctx.engine, "t2")
    with TestClient(create_app(ctx)) as client:
        yield kind(client, ctx, log, {"Authorization": f"Bearer {t1}"}, {"Authorization": f"Bearer {t2}"})
