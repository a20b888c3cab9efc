"""Ingest auth: the token is checked from its header before the body is read, bounded, cached by hash, revocable."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from chronohook.clock import FixedClock
from chronohook.kafka.log import InMemoryEventLog
from chronohook.settings import Settings
from chronohook.store.tokens import create_token, revoke_token, tenant_for_hash
from services.ingest.app import build_context, create_app
from services.ingest.auth import MAX_TOKEN_CHARS, NEGATIVE_TTL, POSITIVE_TTL, TokenAuthenticator
from services.ingest.context import IngestContext
from services.ingest.errors import Unauthorized, Unavailable
from tests.unit.test_ingest_api import CREATE, NOW, PUSH

CRON = {"name": "nightly", "url": "https://example.com/n", "cron_expression": "0 3 * * *"}
MISSING = {"error": "Missing authorization token"}
INVALID = {"error": "Invalid authorization token"}
# (method, path, body): every protected route, with a valid body so that only the token can be at fault.
PROTECTED = [
    ("POST", "/jobs", CREATE),
    ("GET", "/jobs", None),
    ("GET", "/jobs/job_1", None),
    ("PATCH", "/jobs/job_1", {"name": "x"}),
    ("DELETE", "/jobs/job_1", None),
    ("POST", "/api/jobs", PUSH),
    ("POST", "/api/jobs/batch", {"jobs": [PUSH]}),
    ("GET", "/api/jobs/1", None),
    ("POST", "/api/crons", CRON),
    ("GET", "/api/nothing-here", None),
]
BAD_HEADERS = [
    (None, MISSING),
    ("", MISSING),
    ("Bearer", MISSING),
    ("Bearer   ", MISSING),
    ("Basic dXNlcjpwYXNz", MISSING),
    ("Bearer chk_not-a-token", INVALID),
    ("Bearer " + "a" * (MAX_TOKEN_CHARS + 1), INVALID),
    ("Bearer " + "a" * 200_000, INVALID),
    ("Bearer tok@en", INVALID),
    ("Bearer chk_x\u00e9", INVALID),
]


class FakeTimer:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingLookup:
    """The token store, counting the lookups that reach it."""

    def __init__(self, ctx: IngestContext) -> None:
        self.ctx = ctx
        self.calls: list[str] = []

    def __call__(self, token_hash: str) -> str | None:
        self.calls.append(token_hash)
        return tenant_for_hash(self.ctx.engine, token_hash)


class Auth:
    def __init__(self, tmp_path: Path) -> None:
        self.log = InMemoryEventLog()
        self.ctx = build_context(Settings(data_dir=tmp_path), FixedClock(NOW), log=self.log)
        self.timer = FakeTimer()
        self.lookup = CountingLookup(self.ctx)
        self.ctx.auth = TokenAuthenticator(self.lookup, timer=self.timer)
        self.token = create_token(self.ctx.engine, "t1")
        self.app: FastAPI = create_app(self.ctx)

    def bearer(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}


@pytest.fixture
def auth(tmp_path: Path) -> Iterator[Auth]:
    a = Auth(tmp_path)
    try:
        yield a
    finally:
        a.ctx.engine.dispose()


@pytest.fixture
def client(auth: Auth) -> Iterator[TestClient]:
    with TestClient(auth.app) as c:
        yield c


def call_without_reading_the_body(app: FastAPI, method: str, path: str, authorization: str | None) -> dict[str, Any]:
    """Call the ASGI app directly, with a ``receive`` that records whether the body was asked for."""
    headers = [(b"content-type", b"application/json"), (b"content-length", b"1000")]
    if authorization is not None:
        headers.append((b"authorization", authorization.encode("latin-1")))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    seen: dict[str, Any] = {"body_read": False, "status": None, "body": b"", "headers": {}}

    async def receive() -> dict[str, Any]:
        seen["body_read"] = True
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            seen["status"] = message["status"]
            seen["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            seen["body"] += message.get("body", b"")

    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return seen


# -- token before body ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path", "_body"), PROTECTED)
@pytest.mark.parametrize(("header", "expected"), BAD_HEADERS[:7])
def test_a_bad_token_is_401_before_a_byte_of_the_body_is_read(
    auth: Auth, method: str, path: str, _body: object, header: str | None, expected: dict[str, str]
) -> None:
    # Given a request to a protected route with a missing, malformed or wrong token
    # When the app is called
    seen = call_without_reading_the_body(auth.app, method, path, header)
    # Then it answers 401 in the documented shape, with a Bearer challenge, and never asked for the body
    assert seen["status"] == 401
    assert seen["body"] == (b'{"error": "%s"}' % expected["error"].encode())
    assert seen["headers"]["www-authenticate"] == "Bearer"
    assert seen["body_read"] is False
    assert auth.log.records == []


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
@pytest.mark.parametrize(("header", "expected"), BAD_HEADERS)
def test_every_protected_route_answers_401_in_the_one_auth_shape(
    auth: Auth,
    client: TestClient,
    method: str,
    path: str,
    body: object,
    header: str | None,
    expected: dict[str, str],
) -> None:
    # Given a protected route and a bad Authorization header; when it is called; then 401 in the one auth shape
    headers = {} if header is None else {"Authorization": header.encode("latin-1")}
    r = client.request(method, path, json=body, headers=headers)
    assert (r.status_code, r.json()) == (401, expected)
    assert auth.log.records == []


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/openapi.json", "/docs", "/redoc"])
def test_the_public_paths_need_no_token(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_a_valid_token_reaches_the_route(auth: Auth, client: TestClient, method: str, path: str, body: object) -> None:
    r = client.request(method, path, json=body, headers=auth.bearer())
    assert r.status_code not in (401, 403, 500), r.text


def test_the_openapi_document_keeps_the_bearer_scheme(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    [scheme] = doc["components"]["securitySchemes"].values()
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert doc["paths"]["/api/jobs"]["post"]["security"]
    assert doc["paths"]["/api/jobs"]["post"]["responses"]["429"]


# -- bounded, never hashed or cached --------------------------------------------------------------------------
def test_a_200000_character_token_is_401_within_milliseconds_and_never_looked_up(auth: Auth) -> None:
    # Given a 200,000-character bearer token
    header = "Bearer " + "A" * 200_000
    # When it is sent (the app called directly: the time is the server's, not the client's)
    started = time.perf_counter()
    seen = call_without_reading_the_body(auth.app, "POST", "/api/jobs", header)
    elapsed = time.perf_counter() - started
    # Then it is refused at once, without reaching the store or either cache
    assert (seen["status"], seen["body_read"]) == (401, False)
    assert elapsed < 0.25, elapsed  # generous: measured 0.16 ms median on the 2-core machine
    assert auth.lookup.calls == []
    assert len(auth.ctx.auth._known) == len(auth.ctx.auth._unknown) == 0


# -- the cache ---------------------------------------------------------------------------------------------------
def _tenant(authenticator: TokenAuthenticator, token: str) -> str:
    return asyncio.run(authenticator.tenant(f"Bearer {token}".encode()))


def test_the_cache_is_keyed_by_the_tokens_hash_never_the_token(auth: Auth) -> None:
    # When a token is used
    assert _tenant(auth.ctx.auth, auth.token) == "t1"
    # Then the cache holds its SHA-256, not the token
    keys = list(auth.ctx.auth._known)
    assert keys == [hashlib.sha256(auth.token.encode()).hexdigest()]
    assert auth.token not in keys


def test_a_known_token_is_looked_up_once_per_expiry_period(auth: Auth) -> None:
    # Given a token used three times in a row
    for _ in range(3):
        assert _tenant(auth.ctx.auth, auth.token) == "t1"
    # Then the store was asked once
    assert len(auth.lookup.calls) == 1
    # When the entry's time is up
    auth.timer.now += POSITIVE_TTL + 0.01
    # Then the next use asks again
    assert _tenant(auth.ctx.auth, auth.token) == "t1"
    assert len(auth.lookup.calls) == 2


def test_an_unknown_token_is_cached_for_less_time_than_a_known_one() -> None:
    assert NEGATIVE_TTL < POSITIVE_TTL
    # Given a token the store does not know yet, tried twice
    timer = FakeTimer()
    known: dict[str, str] = {}
    calls: list[str] = []

    def lookup(token_hash: str) -> str | None:
        calls.append(token_hash)
        return known.get(token_hash)

    authenticator = TokenAuthenticator(lookup, timer=timer)
    for _ in range(2):
        with pytest.raises(Unauthorized):
            _tenant(authenticator, "chk_soon")
    # Then the store was asked once
    assert len(calls) == 1
    # When the token is created, it works as soon as the unknown answer expires (NEGATIVE_TTL)
    known[hashlib.sha256(b"chk_soon").hexdigest()] = "t1"
    timer.now += NEGATIVE_TTL + 0.01
    assert _tenant(authenticator, "chk_soon") == "t1"
    assert len(calls) == 2


def test_the_cache_is_bounded() -> None:
    # Given an authenticator with room for 3 answers of each kind
    authenticator = TokenAuthenticator(lambda h: "t" if h.startswith(("0", "1", "2", "3")) else None, max_entries=3)
    # When 200 different tokens are tried
    for i in range(200):
        with contextlib.suppress(Unauthorized):
            _tenant(authenticator, f"chk_{i}")
    # Then neither cache grew past its bound
    assert len(authenticator._known) <= 3
    assert len(authenticator._unknown) <= 3


def test_a_revoked_token_is_refused_once_its_entry_expires(auth: Auth, client: TestClient) -> None:
    # Given a token in use
    assert client.get("/jobs", headers=auth.bearer()).status_code == 200
    # When it is revoked
    revoke_token(auth.ctx.engine, auth.token)
    # Then it is refused once the cached answer expires (POSITIVE_TTL < 5 s), never later
    assert POSITIVE_TTL < 5
    auth.timer.now += POSITIVE_TTL + 0.01
    r = client.get("/jobs", headers=auth.bearer())
    assert (r.status_code, r.json()) == (401, INVALID)


def test_a_token_store_that_does_not_answer_is_503_in_each_shape(auth: Auth, client: TestClient) -> None:
    # Given a token store that fails with an internal message
    def broken(_: str) -> str | None:
        raise RuntimeError("secret internal detail")

    auth.ctx.auth._lookup = broken
    # When a new token is used on each family
    recuro = client.post("/api/jobs", json=PUSH, headers=auth.bearer("chk_new"))
    quedup = client.post("/jobs", json=CREATE, headers=auth.bearer("chk_new"))
    # Then 503, nothing of the internal message, nothing appended
    assert recuro.status_code == quedup.status_code == 503
    assert set(recuro.json()) == {"message"}
    assert set(quedup.json()) == {"error"}
    assert "secret" not in recuro.text + quedup.text
    assert auth.log.records == []
    with pytest.raises(Unavailable):
        _tenant(auth.ctx.auth, "chk_other")


# -- /readyz ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kafka_down", "database_down", "status", "body"),
    [
        (False, False, 200, {"status": "ready", "kafka": "ok", "database": "ok"}),
        (True, False, 503, {"status": "unavailable", "kafka": "unavailable", "database": "ok"}),
        (False, True, 503, {"status": "unavailable", "kafka": "ok", "database": "unavailable"}),
        (True, True, 503, {"status": "unavailable", "kafka": "unavailable", "database": "unavailable"}),
    ],
)
def test_readyz_names_what_is_down_without_its_error_text(
    auth: Auth,
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    kafka_down: bool,
    database_down: bool,
    status: int,
    body: dict[str, str],
) -> None:
    # Given dependencies that fail with internal detail
    def fail(*_: object) -> None:
        raise RuntimeError("broker at 10.1.2.3:9092 said: secret")

    if kafka_down:
        monkeypatch.setattr(auth.log, "ping", fail)
    if database_down:
        monkeypatch.setattr("services.ingest.routers.health.ping", fail)
    # When readiness is asked (no token needed)
    r = client.get("/readyz")
    # Then each dependency is "ok" or "unavailable", and no internal text shows
    assert (r.status_code, r.json()) == (status, body)
    assert "secret" not in r.text and "10.1.2.3" not in r.text
