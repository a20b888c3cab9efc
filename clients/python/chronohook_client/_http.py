"""One request, sent: the call's description, the retry rule for 429 and 503, and the sync and async senders."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from chronohook_client.errors import TransportError, error_for, parse_retry_after

T = TypeVar("T")

USER_AGENT = "chronohook-client/0.1"
# The answers that mean "nothing was accepted, send it again later" (docs/api.md): safe to retry for any method.
RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """How 429 and 503 answers are retried: at most ``max_retries`` more sends, each after the answer's
    ``Retry-After`` (or ``backoff`` x 2^n without one), never longer than ``max_wait`` seconds per wait.
    ``RetryPolicy(max_retries=0)`` turns retries off."""

    max_retries: int = 3
    max_wait: float = 30.0
    backoff: float = 0.5

    def wait(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before send ``attempt + 1`` (``attempt`` counts from 0)."""
        given = parse_retry_after(retry_after)
        seconds = given if given is not None else self.backoff * (2**attempt)
        return min(max(0.0, seconds), self.max_wait)


@dataclass(frozen=True)
class Call(Generic[T]):
    """One endpoint call: what to send, and how to read a 2xx answer's JSON (None for an empty answer)."""

    method: str
    path: str
    parse: Callable[[Any], T]
    params: Mapping[str, Any] | None = None
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


def query(**params: Any) -> dict[str, Any]:
    """Query parameters without the ones left out (None)."""
    return {k: v for k, v in params.items() if v is not None}


def _answer(call: Call[T], response: httpx.Response) -> T:
    if response.status_code >= 400:
        raise error_for(response.status_code, _body(response), response.headers)
    if response.status_code == 204 or not response.content:
        return call.parse(None)
    return call.parse(response.json())


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def base_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT, "Accept": "application/json"}


class Sender:
    def __init__(self, http: httpx.Client, retry: RetryPolicy, sleep: Callable[[float], None] = time.sleep) -> None:
        self.http = http
        self.retry = retry
        self.sleep = sleep

    def send(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            try:
                response = self.http.request(
                    call.method, call.path, params=call.params, json=call.json, headers=dict(call.headers)
                )
            except httpx.HTTPError as exc:
                raise TransportError(f"{call.method} {call.path}: {exc}") from exc
            if response.status_code in RETRY_STATUSES and attempt < self.retry.max_retries:
                self.sleep(self.retry.wait(attempt, response.headers.get("retry-after")))
                attempt += 1
                continue
            return _answer(call, response)


class AsyncSender:
    def __init__(
        self,
        http: httpx.AsyncClient,
        retry: RetryPolicy,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.http = http
        self.retry = retry
        self.sleep = sleep

    async def send(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            try:
                response = await self.http.request(
                    call.method, call.path, params=call.params, json=call.json, headers=dict(call.headers)
                )
            except httpx.HTTPError as exc:
                raise TransportError(f"{call.method} {call.path}: {exc}") from exc
            if response.status_code in RETRY_STATUSES and attempt < self.retry.max_retries:
                await self.sleep(self.retry.wait(attempt, response.headers.get("retry-after")))
                attempt += 1
                continue
            return _answer(call, response)
