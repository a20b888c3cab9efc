"""The HTTP sender adapter: one interface, aiohttp for real (chosen by measurement, docs/decisions), a fake.

Whatever a target does ends as a ``SendResult``: the egress guard refuses inside addresses before any connect
(docs/decisions/0009-egress-guard.md), the request-header policy refuses headers the sender owns, and the answer
is capped and made into valid text (status, at most ``MAX_RESPONSE_HEADERS`` headers and
``MAX_RESPONSE_HEADER_BYTES``, a body of at most ``body_limit`` bytes, an error message of at most
``MAX_ERROR_MESSAGE_BYTES``).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp
from yarl import URL

from chronohook.outbound.egress import SCHEMES, EgressPolicy
from chronohook.outbound.errors import EgressRefused, HeaderRefused, OutboundError
from chronohook.outbound.guard import GuardedResolver, RefusedAtSocket, guarded_socket
from chronohook.outbound.headers import check_headers, refused_header_reason
from chronohook.outbound.resolver import ResolveError, Resolver, SystemResolver
from chronohook.outbound.text import capped, decoded_body, valid_text
from schemas.events import FailureReason, HttpRequestSpec

# What a run keeps of an answer besides the body (the body's cap is ``response_body_limit`` in settings).
MAX_RESPONSE_HEADERS = 100
MAX_RESPONSE_HEADER_BYTES = 8_192  # names plus values, UTF-8
MAX_ERROR_MESSAGE_BYTES = 1_024
# aiohttp's own parser limits: an answer over them is a failed run ("connection_error"), never a crash.
MAX_RESPONSE_HEADER_COUNT_PARSED = 128
MAX_RESPONSE_LINE_BYTES = 8_190


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


def refusal_before_connect(
    policy: EgressPolicy | None, request: HttpRequestSpec, headers: dict[str, str]
) -> tuple[FailureReason, str] | None:
    """Why a request must not leave at all (bad scheme, refused literal host, refused header), or None."""
    try:
        url = URL(request.url)
    except (ValueError, TypeError) as exc:
        return "invalid_url", f"invalid URL: {exc}"
    if url.scheme not in SCHEMES:
        return "invalid_url", f"refused by the egress policy: only http and https URLs are sent, not {url.scheme!r}"
    if not url.raw_host:
        return "invalid_url", "invalid URL: it has no host"
    try:
        if policy is not None:
            policy.check_url(request.url)
        check_headers(request.headers)
        for name in headers:
            reason = refused_header_reason(name)
            if reason is not None:
                raise HeaderRefused(reason)
    except EgressRefused as exc:
        return "connection_error", str(exc)
    except HeaderRefused as exc:
        return "unknown", f"refused by the header policy: {exc}"
    return None


class AiohttpSender:
    """Keeps one pooled session; never follows redirects; reads at most ``body_limit`` bytes of a response.

    Every connection goes through the egress guard: names are resolved by ``resolver`` and refused if any
    address is refused, and every socket's address is checked before it connects. The policy is required: a
    sender that silently refused (or allowed) everything would be a surprise either way.
    """

    def __init__(
        self,
        *,
        policy: EgressPolicy,
        resolver: Resolver | None = None,
        body_limit: int = 16_384,
        max_connections: int = 512,
    ) -> None:
        self._policy = policy
        self._limit = body_limit
        self._connector = aiohttp.TCPConnector(
            limit=max_connections,
            limit_per_host=0,
            ttl_dns_cache=60,
            resolver=GuardedResolver(policy, resolver or SystemResolver()),
            socket_factory=guarded_socket(policy),
        )
        self._session = aiohttp.ClientSession(
            connector=self._connector,
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
            # One session sends every tenant's jobs: a cookie one endpoint sets must never ride along on another's.
            cookie_jar=aiohttp.DummyCookieJar(),
            # HTTP(S)_PROXY and .netrc from the environment must not redirect or decorate job traffic.
            trust_env=False,
            max_headers=MAX_RESPONSE_HEADER_COUNT_PARSED,
            max_line_size=MAX_RESPONSE_LINE_BYTES,
            max_field_size=MAX_RESPONSE_LINE_BYTES,
        )

    async def send(self, request: HttpRequestSpec, headers: dict[str, str]) -> SendResult:
        start = time.monotonic()
        refused = refusal_before_connect(self._policy, request, headers)
        if refused is not None:
            return _failed(start, *refused)
        timeout = aiohttp.ClientTimeout(total=request.timeout_seconds)
        try:
            data = request.body.encode() if request.body is not None else None
            async with self._session.request(
                request.method,
                request.url,
                headers=headers,
                data=data,
                allow_redirects=False,
                timeout=timeout,
            ) as resp:
                raw, truncated = await self._read_capped(resp)
                if truncated:
                    # Drop the connection rather than drain what is left (it may be 50 MB, or endless).
                    resp.close()
                body, cut = capped(decoded_body(raw), self._limit)
                return SendResult(
                    started_at_monotonic=start,
                    duration_ms=(time.monotonic() - start) * 1000,
                    status=resp.status,
                    headers=response_headers(resp.headers.items()),
                    body=body,
                    truncated=truncated or cut,
                    failure_reason=classify_status(resp.status),
                    error_message=None if 200 <= resp.status < 300 else f"HTTP {resp.status}",
                )
        except Exception as exc:  # classified and reported as a failed run, never swallowed
            return _failed(start, *classify_exception(exc))

    async def _read_capped(self, resp: aiohttp.ClientResponse) -> tuple[bytes, bool]:
        """At most ``body_limit`` bytes, and whether there was more (one byte past the limit tells)."""
        chunks: list[bytes] = []
        size = 0
        while size <= self._limit:
            chunk = await resp.content.read(self._limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        raw = b"".join(chunks)
        return raw[: self._limit], size > self._limit

    async def close(self) -> None:
        await self._session.close()


def _failed(start: float, reason: FailureReason, message: str) -> SendResult:
    return SendResult(
        started_at_monotonic=start,
        duration_ms=(time.monotonic() - start) * 1000,
        failure_reason=reason,
        error_message=error_text(message),
    )


def response_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The answer's headers as valid text, the last of a repeated name winning, within the count and byte caps."""
    kept: dict[str, str] = {}
    size = 0
    for raw_name, raw_value in items:
        name, value = valid_text(raw_name), valid_text(raw_value)
        if name in kept:
            size -= len(name.encode()) + len(kept.pop(name).encode())
        cost = len(name.encode()) + len(value.encode())
        if len(kept) >= MAX_RESPONSE_HEADERS or size + cost > MAX_RESPONSE_HEADER_BYTES:
            continue
        kept[name] = value
        size += cost
    return kept


def error_text(message: str) -> str:
    """An error message as valid text of at most ``MAX_ERROR_MESSAGE_BYTES``."""
    text, cut = capped(valid_text(message), MAX_ERROR_MESSAGE_BYTES - 3)
    return text + "..." if cut else text


def _causes(exc: BaseException) -> Iterable[BaseException]:
    """The exception and what it wraps (aiohttp keeps the OS error on ``os_error`` and as the cause), bounded."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending and len(seen) < 16:
        current = pending.pop(0)
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        pending.extend([current.__cause__, current.__context__, getattr(current, "os_error", None)])
    return seen


def classify_exception(exc: BaseException) -> tuple[FailureReason, str]:
    """A failure reason and a message (valid text, capped) for anything a send raised; never raises itself."""
    try:
        reason, message = _classify(exc)
        return reason, error_text(message)
    except Exception:  # pragma: no cover - a broken __str__ must not break the executor either
        return "unknown", f"unclassifiable error ({type(exc).__name__})"


def _describe(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}".strip()
    except Exception:
        return type(exc).__name__


def _classify(exc: BaseException) -> tuple[FailureReason, str]:
    text = _describe(exc)
    for cause in _causes(exc):
        if isinstance(cause, EgressRefused | RefusedAtSocket):
            return "connection_error", str(cause)
        if isinstance(cause, OutboundError):
            return "unknown", str(cause)
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return "timeout", text or "timed out"
    if isinstance(exc, aiohttp.InvalidURL):
        return "invalid_url", text
    if isinstance(exc, aiohttp.ClientConnectorDNSError | ResolveError | socket.gaierror):
        return "dns_error", text
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError | ssl.CertificateError):
        return "ssl_error", text
    if isinstance(exc, aiohttp.ClientConnectionError | ConnectionError | OSError):
        return "connection_error", text
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "connection_error", text
    if isinstance(exc, aiohttp.ClientResponseError):
        # The parser refused the answer (invalid status line, too many or too long headers).
        return "connection_error", f"invalid HTTP answer: {text}"
    if isinstance(exc, ValueError | UnicodeError):
        return "invalid_url", text
    return "unknown", text


@dataclass
class RecordedRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: str | None


class InMemorySender:
    """Test double: records requests and answers from a script (default 200).

    Given a policy, it refuses what the real sender refuses before connecting (literal hosts, headers).
    """

    def __init__(self, answers: dict[str, int] | None = None, policy: EgressPolicy | None = None) -> None:
        self.answers = answers or {}
        self.policy = policy
        self.requests: list[RecordedRequest] = []

    async def send(self, request: HttpRequestSpec, headers: dict[str, str]) -> SendResult:
        refused = refusal_before_connect(self.policy, request, headers)
        if refused is not None:
            return _failed(time.monotonic(), *refused)
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
