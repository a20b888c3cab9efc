"""``Client`` and ``AsyncClient``: one token, one API, every endpoint grouped by resource."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from types import TracebackType

import httpx
from pydantic import TypeAdapter

from chronohook_client import _async_resources as aio
from chronohook_client import _sync_resources as sync
from chronohook_client._http import AsyncSender, Call, RetryPolicy, Sender, base_headers
from chronohook_client.models import Health, VersionInfo

DEFAULT_TIMEOUT_S = 10.0


class Client:
    """The API, synchronously: ``Client("http://127.0.0.1:8000", token)``; close it (or use ``with``).

    ``client.jobs`` (Recuro jobs), ``client.quedup`` (QuedUp jobs), ``client.queues``, ``client.crons``,
    ``client.dead_letters``, ``client.signing_secret``, ``client.alerts``. Answers are typed models; lists are
    paginators that follow every page; 429 and 503 answers are retried as ``retry`` says, honouring ``Retry-After``.
    ``http_client``: an ``httpx.Client`` of your own (its base URL and headers are yours to set).
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._owned = http_client is None
        self.http = http_client or httpx.Client(
            base_url=self.base_url, headers=base_headers(token), timeout=timeout, transport=transport
        )
        self._sender = Sender(self.http, retry or RetryPolicy(), sleep)
        self.jobs = sync.Jobs(self._sender)
        self.quedup = sync.QuedUp(self._sender)
        self.queues = sync.Queues(self._sender)
        self.crons = sync.Crons(self._sender)
        self.dead_letters = sync.DeadLetters(self._sender)
        self.signing_secret = sync.SigningSecretResource(self._sender)
        self.alerts = sync.Alerts(self._sender)

    def health(self) -> Health:
        return self._sender.send(Call("GET", "/healthz", TypeAdapter(Health).validate_python))

    def ready(self) -> Health:
        """``/readyz``: a ``ServerError`` (503) while the broker or the database is away."""
        return self._sender.send(Call("GET", "/readyz", TypeAdapter(Health).validate_python))

    def version(self) -> VersionInfo:
        return self._sender.send(Call("GET", "/version", TypeAdapter(VersionInfo).validate_python))

    def close(self) -> None:
        if self._owned:
            self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class AsyncClient:
    """The API, for asyncio: ``async with AsyncClient(url, token) as client: await client.jobs.get(1)``; lists are
    iterated with ``async for``. Otherwise as ``Client``."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._owned = http_client is None
        self.http = http_client or httpx.AsyncClient(
            base_url=self.base_url, headers=base_headers(token), timeout=timeout, transport=transport
        )
        self._sender = AsyncSender(self.http, retry or RetryPolicy(), sleep)
        self.jobs = aio.AsyncJobs(self._sender)
        self.quedup = aio.AsyncQuedUp(self._sender)
        self.queues = aio.AsyncQueues(self._sender)
        self.crons = aio.AsyncCrons(self._sender)
        self.dead_letters = aio.AsyncDeadLetters(self._sender)
        self.signing_secret = aio.AsyncSigningSecretResource(self._sender)
        self.alerts = aio.AsyncAlerts(self._sender)

    async def health(self) -> Health:
        return await self._sender.send(Call("GET", "/healthz", TypeAdapter(Health).validate_python))

    async def ready(self) -> Health:
        return await self._sender.send(Call("GET", "/readyz", TypeAdapter(Health).validate_python))

    async def version(self) -> VersionInfo:
        return await self._sender.send(Call("GET", "/version", TypeAdapter(VersionInfo).validate_python))

    async def aclose(self) -> None:
        if self._owned:
            await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()
