"""The ingest FastAPI application and its process entry point."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from chronohook.clock import Clock
from chronohook.kafka.config import producer_config, transactional_producer_config
from chronohook.kafka.log import EventLog, KafkaEventLog
from chronohook.kafka.producer import AsyncEventProducer, TransactionalAppender
from chronohook.kafka.topics import Topics, ensure_topics
from chronohook.readmodel.store import ReadModelStore
from chronohook.schedule import ScheduleError
from chronohook.sealing import settings_ring
from chronohook.settings import Settings
from chronohook.store.engine import create_schema, make_engine
from chronohook.store.leases import NodeLeaseError, leased_ids
from chronohook.version import version
from services.ingest.access_log import AccessLog
from services.ingest.auth import Authenticate
from services.ingest.consistency import ConsistencyHeaders
from services.ingest.console import add_console
from services.ingest.context import IngestContext
from services.ingest.docs_ui import add_docs_pages
from services.ingest.errors import (
    IngestError,
    handle_http_error,
    handle_ingest_error,
    handle_node_lease_error,
    handle_validation_error,
)
from services.ingest.hostile import HostileInput
from services.ingest.idempotency import IdempotentCreates
from services.ingest.limits import BodySizeLimit
from services.ingest.metrics import HttpMetrics
from services.ingest.routers import (
    alerts,
    dead_letters,
    health,
    history,
    quedup_jobs,
    queues,
    recuro_crons,
    recuro_jobs,
    runs,
    signing,
)
from services.ingest.schedules import handle_schedule_error
from services.ingest.secrets import Sealing, stored_queue_names

DESCRIPTION = """\
chronohook sends HTTP requests for you: now, after a delay, at a time, or on a cron schedule.

It speaks two APIs: QuedUp's `/jobs` and Recuro's `/api/jobs` and `/api/crons`. Authenticate with
`Authorization: Bearer <token>` (create one with `chronohook tokens create --tenant NAME`).
"""


def build_context(settings: Settings, clock: Clock, log: EventLog | None = None) -> IngestContext:
    """Wire the real adapters (or the given event log) for one ingest process.

    Integer ids are minted under a node id leased in the database (decision 0013): CHRONOHOOK_NODE_ID, when set, is
    the one asked for and start-up fails if a live process holds it; unset, any free one. A real process (no log
    given) that loses its lease stops itself, so its supervisor starts it afresh under a new one.
    """
    # A real process (no log given) refuses to start without a secret key (decision 0044), before it leases anything.
    ring = settings_ring(settings, "ingest" if log is None else None)
    topics = Topics.from_settings(settings)
    engine = make_engine(settings.resolved_database_url)
    create_schema(engine)
    preferred = settings.node_id if "node_id" in settings.model_fields_set else None
    ids = leased_ids(engine, clock, preferred, on_lost=_stop_this_process if log is None else None)
    # A given log (tests) takes the queue settings changes too, under the job log's topic name.
    queue_log, queue_topic = log, topics.events
    if log is None:
        ensure_topics(settings)
        # Batches go through a transaction of their own, whose id must be this process's alone. The supervisor's
        # per-child name is, and survives a restart: a child killed mid-batch is fenced by its successor at once
        # instead of holding back read_committed consumers until its transaction times out. Without one, the
        # leased node id is unique among live processes (its next holder fences the transactions left open).
        txn_id = settings.group_instance_id or f"{settings.topic_prefix}.ingest.{ids.node_id}"
        batches = TransactionalAppender(transactional_producer_config(settings, txn_id))
        producer = AsyncEventProducer(producer_config(settings))
        log = KafkaEventLog(producer, topics.events, batches)
        # Queue settings go to their own compacted topic (decision 0015), through the same producer (closed with log).
        queue_log, queue_topic = KafkaEventLog(producer, topics.queue_settings), topics.queue_settings
    return IngestContext(
        settings=settings,
        clock=clock,
        log=log,
        engine=engine,
        store=ReadModelStore(engine),
        ids=ids,
        topic=topics.events,
        queue_log=queue_log,
        queue_topic=queue_topic,
        sealing=Sealing(ring, stored_queue_names(engine)),
    )


def _stop_this_process() -> None:
    # SIGTERM: uvicorn finishes its requests (which can mint no more ids) and exits; the supervisor restarts it.
    os.kill(os.getpid(), signal.SIGTERM)


def create_app(ctx: IngestContext) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            ctx.log.close()
            ctx.ids.close()
            ctx.engine.dispose()

    app = FastAPI(
        title="chronohook",
        version=version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # FastAPI's own OpenTelemetry hooks off: the request's span is AccessLog's, which names the tenant, and the
        # one trace a job makes stays its API call, fire, delivery and callback (decision 0043).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.ctx = ctx
    # First: the docs pages and their assets, from this package (no CDN); the mount answers all of /static/.
    add_docs_pages(app)
    add_console(app)  # the web console's pages and assets (no token), and its one read (token)
    app.add_exception_handler(IngestError, handle_ingest_error)
    app.add_exception_handler(NodeLeaseError, handle_node_lease_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)
    app.add_exception_handler(ScheduleError, handle_schedule_error)
    for router in (
        quedup_jobs.router,
        recuro_jobs.router,
        recuro_crons.router,
        queues.router,
        runs.router,
        history.router,
        signing.router,
        dead_letters.router,
        alerts.router,
        health.router,
    ):
        app.include_router(router)
    # Innermost: the tenant is known (token checked) and the body it reads is bounded (size limit).
    app.add_middleware(IdempotentCreates, ctx=ctx)
    # Inside the size limit (the body it reads is bounded): NUL in the path or query, JSON nested too deep.
    app.add_middleware(HostileInput, max_json_depth=ctx.settings.max_json_depth)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=ctx.settings.max_request_bytes,
        per_path={recuro_jobs.BATCH_PATH: ctx.settings.max_batch_request_bytes},
    )
    # Added last, so outermost: the token is checked before the body limit (which may read a chunked body) runs.
    app.add_middleware(Authenticate, authenticator=ctx.auth)
    # Outermost of all: every answer (a refusal too) can carry the position and stale headers (decision 0035).
    app.add_middleware(ConsistencyHeaders, names=lambda: ctx.position_names)
    app.add_middleware(HttpMetrics)  # around everything: each request's duration, refusals counted (decision 0042)
    app.add_middleware(AccessLog)  # outermost: the access-log line and the request's span (decision 0043)
    return app


def listening_socket(host: str, port: int) -> socket.socket:
    """The API socket, bound with SO_REUSEPORT so several ingest processes share one port (the kernel balances)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def serve(settings: Settings, clock: Clock) -> None:
    app = create_app(build_context(settings, clock))
    config = uvicorn.Config(
        app,
        log_level=settings.log_level.lower(),
        log_config=None,  # its loggers go through the process's one handler (chronohook/logs.py)
        access_log=False,  # ours, with the tenant and request id: services/ingest/access_log.py
        loop="uvloop",
        http="httptools",
        backlog=4096,
    )
    if settings.api_socket_fd is not None:  # `chronohook dev` bound it (decision 0037)
        sock = socket.socket(fileno=settings.api_socket_fd)
    else:
        sock = listening_socket(settings.api_host, settings.api_port)
    uvicorn.Server(config).run(sockets=[sock])
