"""An ingest API served over HTTP on 127.0.0.1 for the web console's browser tests and screenshots.

The API is the real one (``create_app``); behind it an in-memory event log and a SQLite read model, and a projector
thread that folds each new record into the read model as the projector service would. The timer and executor are
played by the test: ``run`` and ``dead_letter`` append the events they would (a due, an attempt with its request and
response, a dead letter), so a page can show a job's whole timeline with no broker and no outbound request.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from chronohook.clock import SystemClock
from chronohook.ids import recuro_job_key
from chronohook.kafka.log import InMemoryEventLog
from chronohook.kafka.records import record_of
from chronohook.readmodel.store import PROJECTOR_CONSUMER, Consumed
from chronohook.settings import Settings
from chronohook.store.tokens import create_token
from schemas.codec import decode_event
from schemas.events import Envelope, JobDeadLettered, JobDue, JobFailed, JobPushed, JobSucceeded, RunOutcome
from services.ingest.app import build_context, create_app
from services.ingest.context import IngestContext
from tests.support.polling import eventually

# Job URLs point at a loopback address the egress policy is told to allow; nothing is ever sent to it.
TARGET = "http://127.0.0.2:9/hook"
EGRESS_ALLOW = "127.0.0.2/32"


@dataclass
class ConsoleStack:
    base_url: str
    ctx: IngestContext
    log: InMemoryEventLog
    tokens: dict[str, str]
    http: httpx.Client
    projected: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def headers(self, tenant: str = "t1") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[tenant]}"}

    def api(self, method: str, path: str, tenant: str = "t1", **kwargs: Any) -> Any:
        r = self.http.request(method, self.base_url + path, headers=self.headers(tenant), **kwargs)
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    def project(self) -> None:
        """Fold the records appended since the last call (the projector's part)."""
        with self.lock:
            records = self.log.records[self.projected :]
            if not records:
                return
            batch = [
                Consumed(self.ctx.topic, 0, self.projected + i, decode_event(value))
                for i, (_, value, _) in enumerate(records)
            ]
            self.ctx.store.apply(PROJECTOR_CONSUMER, batch, datetime.now(UTC))
            self.projected += len(records)

    def append(self, *events: Envelope) -> None:
        self.log.records.extend(record_of(e) for e in events)

    def pushed(self, job_id: int) -> JobPushed:
        for _, value, _ in list(self.log.records):
            event = decode_event(value)
            if isinstance(event, JobPushed) and event.integer_id == job_id:
                return event
        raise AssertionError(f"job {job_id} was not pushed")

    def run(
        self,
        job_id: int,
        status: int = 200,
        body: str = "ok",
        response_headers: dict[str, str] | None = None,
        late_ms: int = 40,
        attempt: int = 1,
    ) -> None:
        """Append the job's due and one attempt's result, as the timer and executor would."""
        pushed = self.pushed(job_id)
        key = recuro_job_key(job_id)
        due = max(datetime.now(UTC), pushed.scheduled_at or pushed.occurred_at)  # the timer fires it when it is due
        started = due + timedelta(milliseconds=late_ms)
        run_id = f"{key}:1:{attempt}"
        signature = {
            "webhook-id": f"msg_{key}",
            "webhook-timestamp": str(int(started.timestamp())),
            "webhook-signature": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
        }
        outcome = RunOutcome(
            run_id=run_id, attempt=attempt, due_at=due, started_at=started,
            finished_at=started + timedelta(milliseconds=85), duration_ms=85.0,
            request_headers={**pushed.request.headers, **signature},
            request_body=pushed.request.body, response_status=status, response_body=body,
            response_headers=response_headers or {"content-type": "text/plain"},
        )  # fmt: skip
        base = {"job_id": key, "tenant": pushed.tenant}
        due_event = JobDue(
            **base, event_id=f"evt_due_{run_id}", occurred_at=due, run_id=run_id, due_at=due, attempt=attempt,
            request=pushed.request,
        )  # fmt: skip
        if status < 300:
            result: Envelope = JobSucceeded(**base, event_id=f"evt_ok_{run_id}", occurred_at=outcome.finished_at,
                                            outcome=outcome)  # fmt: skip
        else:
            result = JobFailed(**base, event_id=f"evt_fail_{run_id}", occurred_at=outcome.finished_at, outcome=outcome,
                               failure_reason="http_server_error", error_message=f"HTTP {status}")  # fmt: skip
        self.append(due_event, result)

    def dead_letter(self, job_id: int, body: str = "upstream down") -> None:
        """The job's attempt fails and its retries have run out."""
        self.run(job_id, status=500, body=body)
        key = recuro_job_key(job_id)
        at = datetime.now(UTC)
        self.append(
            JobDeadLettered(
                job_id=key, tenant=self.pushed(job_id).tenant, occurred_at=at, event_id=f"evt_dl_{key}",
                failed_run_id=f"{key}:1:1", attempts=1, final_status="dead_lettered", purge_at=at + timedelta(days=14),
            )
        )  # fmt: skip

    def push(self, queue: str = "emails", tenant: str = "t1", **fields: Any) -> int:
        job = {"queue": queue, "url": TARGET, **fields}
        job_id: int = self.api("POST", "/api/jobs", tenant, json=job)["job_id"]
        return job_id


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def console_stack(data_dir: Path) -> Iterator[ConsoleStack]:
    """The API on a free port of 127.0.0.1 with tokens for tenants t1 and t2, and its projector thread."""
    log = InMemoryEventLog()
    settings = Settings(data_dir=data_dir, egress_allow=EGRESS_ALLOW)
    ctx = build_context(settings, SystemClock(), log=log)
    tokens = {t: create_token(ctx.engine, t) for t in ("t1", "t2")}
    port = _free_port()
    config = uvicorn.Config(create_app(ctx), host="127.0.0.1", port=port, log_level="warning", backlog=1024)
    server = uvicorn.Server(config)
    serving = threading.Thread(target=server.run, name="console-api", daemon=True)
    stop = threading.Event()
    with httpx.Client(timeout=10) as http:
        stack = ConsoleStack(f"http://127.0.0.1:{port}", ctx, log, tokens, http)

        def projector() -> None:
            while not stop.wait(0.05):
                stack.project()

        folding = threading.Thread(target=projector, name="console-projector", daemon=True)
        serving.start()
        folding.start()
        try:
            eventually(lambda: server.started or not serving.is_alive(), timeout=20, what="the API to start")
            assert server.started, "the API did not start"
            yield stack
        finally:
            stop.set()
            server.should_exit = True
            serving.join(10)
            folding.join(10)
