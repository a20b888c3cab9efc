"""``Idempotency-Key`` on the four creates: a repeat gets the first answer and creates nothing (decision 0019).

One middleware, registered once, handles every create route in ``SCOPES``: it checks the key, hashes the body's
canonical JSON, and reserves the key (chronohook/store/idempotency.py) before the route runs. A repeat of an answered
request is answered from the reservation without running the route; the same key with another body is a 422; a
request that finds the first still at work waits for its answer (bounded), then takes over if that one died.

The routes take their ids and their time from ``NewIds``: with a key, derived from the reservation (tenant, endpoint,
key, nonce, index in a batch) and dated when the key was first reserved, so whichever request appends, it appends the
same events; without one, freshly minted as before.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chronohook.ids import derived_integer_id, derived_quedup_job_id, quedup_job_id
from chronohook.store.idempotency import Answered, Busy, IdempotencyKeys, Mismatch, Reservation
from services.ingest.auth import TENANT_SCOPE_KEY
from services.ingest.context import Ctx, IngestContext
from services.ingest.errors import Conflict, IngestError, Unavailable, invalid_input, send_error

log = logging.getLogger(__name__)

HEADER = b"idempotency-key"
FIELD = "Idempotency-Key"
MAX_KEY_LENGTH = 255
# The creates that take a key, by path, each its own key space: the scope part of the reservation and of the ids.
SCOPES = {
    "/jobs": "quedup.jobs",
    "/api/jobs": "recuro.jobs",
    "/api/jobs/batch": "recuro.jobs.batch",
    "/api/crons": "recuro.crons",
}
RESERVATION_SCOPE_KEY = "chronohook.idempotency"
REPLAYED_HEADER = (b"idempotent-replayed", b"true")
WAIT_SECONDS = 10.0  # how long a repeat waits for a first request still at work, before a 409
PURGE_EVERY_SECONDS = 300.0

BAD_KEY = f"The {FIELD} header must be 1 to {MAX_KEY_LENGTH} printable ASCII characters, given once."
OTHER_BODY = f"This {FIELD} was already used with a different request body."
IN_PROGRESS = f"A request with this {FIELD} is still being processed; send it again in a moment."


def canonical_sha256(body: bytes) -> str | None:
    """SHA-256 of the body's JSON in canonical form (keys sorted, no insignificant whitespace); None if not JSON.

    So a repeat that spaces or orders its keys differently is the same request; a value that differs is not.
    """
    try:
        parsed = json.loads(body)
    except ValueError:  # not UTF-8 or not JSON: the route answers its 422, and nothing is reserved
        return None
    canonical = json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def parse_key(values: list[bytes]) -> str | None:
    """The key when it is valid (one header, 1-255 printable ASCII characters), else None."""
    if len(values) != 1:
        return None
    raw = values[0]
    if not 1 <= len(raw) <= MAX_KEY_LENGTH or any(not 0x20 <= b <= 0x7E for b in raw):
        return None
    return raw.decode("ascii")


class IdempotentCreates:
    """ASGI middleware: the reservation around each create in ``SCOPES`` that carries an ``Idempotency-Key``.

    Inside the token check (the tenant is known) and the body-size limit (the body read here is bounded).
    """

    def __init__(self, app: ASGIApp, ctx: IngestContext, wait_seconds: float = WAIT_SECONDS) -> None:
        self.app = app
        self.ctx = ctx
        self.keys = IdempotencyKeys(ctx.engine)
        self.wait_seconds = wait_seconds
        self._next_purge = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = SCOPES.get(scope.get("path", "")) if scope["type"] == "http" and scope["method"] == "POST" else None
        given = [v for k, v in scope.get("headers") or [] if k.lower() == HEADER] if endpoint else []
        tenant = scope.get(TENANT_SCOPE_KEY)
        if endpoint is None or not given or not isinstance(tenant, str):
            # No key (or no tenant: then the route itself refuses the request with a 401).
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        key = parse_key(given)
        if key is None:
            await send_error(path, invalid_input({FIELD: [BAD_KEY]}), send)
            return
        messages, body = await _read_body(receive)
        digest = canonical_sha256(body)
        if digest is None:
            await self.app(scope, _replay(messages, receive), send)
            return
        try:
            claim = await self._claim(tenant, endpoint, key, digest)
        except IngestError as error:
            await send_error(path, error, send)
            return
        match claim:
            case Answered(status=status, body=answer):
                await _send_json(send, status, answer.encode(), replayed=True)
            case Mismatch():
                await send_error(path, invalid_input({FIELD: [OTHER_BODY]}), send)
            case Reservation() as held:
                await self._run(held, {**scope, RESERVATION_SCOPE_KEY: held}, _replay(messages, receive), send)

    async def _claim(self, tenant: str, endpoint: str, key: str, digest: str) -> Answered | Mismatch | Reservation:
        """Hold the key or learn its fate, waiting (bounded) while another request holds it."""
        deadline = time.monotonic() + self.wait_seconds
        pause = 0.01
        try:
            await self._purge_now_and_then()
            while True:
                claim = await asyncio.to_thread(self.keys.claim, tenant, endpoint, key, digest, self.ctx.clock.now())
                if not isinstance(claim, Busy):
                    return claim
                if time.monotonic() >= deadline:
                    raise Conflict(IN_PROGRESS, {FIELD: [IN_PROGRESS]})
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.25)
        except SQLAlchemyError as exc:
            raise Unavailable(f"The {FIELD} store did not answer; nothing was accepted.") from exc

    async def _run(self, held: Reservation, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the route holding the key; store a success before sending it, so a repeat is never told otherwise."""
        start: Message | None = None
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self.app(scope, receive, keep)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(self.keys.abandon, held))
            raise
        assert start is not None, "the route answered nothing"
        status = int(start["status"])
        body = b"".join(chunks)
        if 200 <= status < 300:
            await asyncio.to_thread(self.keys.complete, held, status, body.decode())
        elif status < 500 and not held.taken_over:
            await asyncio.to_thread(self.keys.release, held)  # refused before anything was appended
        else:
            # The append may have happened (here, or by the holder this one took over from): same ids next time.
            await asyncio.to_thread(self.keys.abandon, held)
        await send(start)
        await send({"type": "http.response.body", "body": body})

    async def _purge_now_and_then(self) -> None:
        if time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + PURGE_EVERY_SECONDS
        purged = await asyncio.to_thread(self.keys.purge_expired, self.ctx.clock.now())
        if purged:
            log.info("purged %d expired Idempotency-Key reservations", purged)


async def _read_body(receive: Receive) -> tuple[list[Message], bytes]:
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    return messages, b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


async def _send_json(send: Send, status: int, body: bytes, replayed: bool = False) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if replayed:
        headers.append(REPLAYED_HEADER)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class CreateIds:
    """Where a create takes its job ids and its time: derived from the held key, or minted afresh without one."""

    ctx: IngestContext
    held: Reservation | None

    @property
    def now(self) -> datetime:
        return self.ctx.clock.now() if self.held is None else self.held.created_at

    def integer(self, index: int = 0) -> int:
        """A Recuro job's or cron's id; ``index``: the job's place in a batch."""
        if self.held is None:
            return self.ctx.ids.next_id()
        return derived_integer_id(*self._parts(index))

    def quedup(self) -> str:
        if self.held is None:
            return quedup_job_id(self.ctx.clock)
        return derived_quedup_job_id(*self._parts(0))

    def _parts(self, index: int) -> tuple[object, ...]:
        held = self.held
        assert held is not None
        return (held.tenant, held.scope, held.key, held.nonce, index)


KEY_DOC = (
    "Send the create again with the same key within 24 h and get the first answer, creating nothing; the same key "
    "with another body is a 422 (docs/api.md, decision 0019)."
)


async def get_create_ids(
    request: Request,
    ctx: Ctx,
    # Declared for OpenAPI only: the middleware has read and checked it before the route runs.
    _key: Annotated[
        str | None, Header(alias="Idempotency-Key", description=KEY_DOC, pattern=r"^[!-~]([ -~]{0,253}[!-~])?$")
    ] = None,
) -> CreateIds:
    held = request.scope.get(RESERVATION_SCOPE_KEY)
    return CreateIds(ctx, held if isinstance(held, Reservation) else None)


NewIds = Annotated[CreateIds, Depends(get_create_ids)]
