"""The HTTP sender adapter: one interface, aiohttp for real (chosen by measurement, docs/decisions), a fake."""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

from schemas.events import FailureReason, HttpRequestSpec


@dataclass(frozen=True)
class SendResult:
    started_at_monotonic: float
    duration_ms: float
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    truncated: bool = False
    failure_reason: FailureReason | None = None
    error_message: str | None = None


class HttpSender(Protocol):
    async def send(self, request: HttpRequestSpec, headers: dict[str, str]) -> SendResult: ...

    async def close(self) -> None: ...


def classify_status(status: int) -> FailureReason | None:
    if 200 <= status < 300:
        return None
    if 400 <= status < 500:
        return "http_client_error"
    if status >= 500:
        return "http_server_error"
    # 1xx leftovers and 3xx: redirects are not followed, and they are not a success.
    return "unknown"


class AiohttpSender:
    """Keeps one pooled session; never follows redirects; reads at most ``body_limit`` bytes of a response."""

    def __init__(self, body_limit: int = 16_384, max_connections: int = 512) -> None:
        self._limit = body_limit
        self._connector = aiohttp.TCPConnector(limit=max_connections, limit_per_host=0, ttl_dns_cache=60)
        self._session = aiohttp.ClientSession(
            connector=self._connector,
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
            # One session sends every tenant's jobs: a cookie one endpoint sets must never ride along on another's.
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def send(self, request: HttpRequestSpec, headers: dict[str, str]) -> SendResult:
        start = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=request.timeout_seconds)
        data = request.body.encode() if request.body is not None else None
        try:
            async with self._session.request(
                request.method,
                request.url,
                headers=headers,
                data=data,
                allow_redirects=False,
                timeout=timeout,
            ) as resp:
                raw = await resp.content.read(self._limit + 1)
                truncated = len(raw) > self._limit
                return SendResult(
                    started_at_monotonic=start,
                    duration_ms=(time.monotonic() - start) * 1000,
                    status=resp.status,
                    headers={k: v for k, v in resp.headers.items()},
                    body=raw[: self._limit].decode(errors="replace"),
                    truncated=truncated,
                    failure_reason=classify_status(resp.status),
                    error_message=None if 200 <= resp.status < 300 else f"HTTP {resp.status}",
                )
        except Exception as exc:  # classified and reported as a failed run, never swallowed
            reason, message = classify_exception(exc)
            return SendResult(
                started_at_monotonic=start,
                duration_ms=(time.monotonic() - start) * 1000,
                failure_reason=reason,
                error_message=message,
            )

    async def close(self) -> None:
        await self._session.close()


def classify_exception(exc: BaseException) -> tuple[FailureReason, str]:
    text = f"{type(exc).__name__}: {exc}".strip()
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return "timeout", text or "timed out"
    if isinstance(exc, aiohttp.InvalidURL | ValueError) and not isinstance(exc, aiohttp.ClientError):
        return "invalid_url", text
    if isinstance(exc, aiohttp.InvalidURL):
        return "invalid_url", text
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "dns_error", text
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return "ssl_error", text
    if isinstance(exc, aiohttp.ClientConnectionError | ConnectionError | OSError):
        return "connection_error", text
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "connection_error", text
    return "unknown", text


@dataclass
class RecordedRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: str | None


class InMemorySender:
    """Test double: records requests and answers from a script (default 200)."""

    def __init__(self, answers: dict[str, int] | None = None) -> None:
        self.answers = answers or {}
        self.requests: list[RecordedRequest] = []

    async def send(self, request: HttpRequestSpec, headers: dict[str, str]) -> SendResult:
        self.requests.append(RecordedRequest(request.method, request.url, headers, request.body))
        status = self.answers.get(request.url, 200)
        if status < 0:
            return SendResult(time.monotonic(), 0.0, failure_reason="connection_error", error_message="refused")
        return SendResult(
            time.monotonic(),
            0.0,
            status=status,
            body="",
            failure_reason=classify_status(status),
            error_message=None if 200 <= status < 300 else f"HTTP {status}",
        )

    async def close(self) -> None:
        return None
