"""Bearer tokens, checked from the request's headers before a byte of its body is read.

``Authenticate`` is an ASGI middleware in front of everything else (body limit, JSON parsing, routing): a request to
a protected path without a valid token is answered 401 at once, in the family's shape, and never reads its body. The
tenant it finds rides in the ASGI scope to the ``Tenant`` dependency.

Tokens are looked up by their SHA-256; the answers are cached by that hash (never by the token), in two bounded LRU
caches with an expiry per entry: a known token for ``POSITIVE_TTL`` seconds (so a revoked token is refused by every
ingest process within that time), an unknown one for less.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Callable

from cachetools import TTLCache
from starlette.types import ASGIApp, Receive, Scope, Send

from services.ingest.errors import (
    INVALID_TOKEN,
    MISSING_TOKEN,
    IngestError,
    Unauthorized,
    Unavailable,
    send_error,
)

log = logging.getLogger(__name__)

# Ours are 47 characters ("chk_" + 43); anything longer than this is refused before it is hashed or looked up.
MAX_TOKEN_CHARS = 256
# RFC 6750's b64token: anything else cannot be one of ours either.
_B64TOKEN = re.compile(rb"[A-Za-z0-9\-._~+/]+=*")
# Revocation reaches every process within this (the brief: 5 s), and a hot token costs one lookup per period.
POSITIVE_TTL = 4.0
# A token just created is usable within this; a flood of one wrong token reaches the database once per period.
NEGATIVE_TTL = 1.0
CACHE_ENTRIES = 10_000
TENANT_SCOPE_KEY = "chronohook.tenant"
PUBLIC_PATHS = frozenset(
    {"/healthz", "/readyz", "/version", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/metrics"}
)
# The docs pages' scripts and styles (services/ingest/docs_ui.py), public like the pages that load them.
PUBLIC_PREFIXES = ("/static/",)
# And the web console's pages and assets (services/ingest/console.py): they hold no data; its data is the API's,
# fetched with the user's token. Its own read under /console/api/ needs the token.
CONSOLE_PATH = "/console"
CONSOLE_API_PREFIX = "/console/api/"


def console_public(path: str) -> bool:
    """Whether ``path`` is one of the console's pages or assets."""
    return path == CONSOLE_PATH or (path.startswith(CONSOLE_PATH + "/") and not path.startswith(CONSOLE_API_PREFIX))


TenantLookup = Callable[[str], str | None]
"""The tenant of a token that is not revoked, by the token's SHA-256 (hex); blocking (run in a thread)."""


def bearer_token(authorization: bytes | None) -> bytes:
    """The token of an ``Authorization: Bearer <token>`` header value; Unauthorized otherwise.

    Only the header is looked at; an oversized one is refused by its length before anything else is done with it.
    """
    if not authorization:
        raise Unauthorized(MISSING_TOKEN)
    if len(authorization) > len(b"Bearer ") + MAX_TOKEN_CHARS + 16:  # some room for extra spaces
        raise Unauthorized(INVALID_TOKEN)
    scheme, _, token = authorization.partition(b" ")
    token = token.strip()
    if scheme.lower() != b"bearer" or not token:
        raise Unauthorized(MISSING_TOKEN)
    if len(token) > MAX_TOKEN_CHARS or _B64TOKEN.fullmatch(token) is None:
        raise Unauthorized(INVALID_TOKEN)
    return token


class TokenAuthenticator:
    def __init__(
        self,
        lookup: TenantLookup,
        positive_ttl: float = POSITIVE_TTL,
        negative_ttl: float = NEGATIVE_TTL,
        max_entries: int = CACHE_ENTRIES,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._known: TTLCache[str, str] = TTLCache(max_entries, positive_ttl, timer)
        self._unknown: TTLCache[str, bool] = TTLCache(max_entries, negative_ttl, timer)

    async def tenant(self, authorization: bytes | None) -> str:
        """The tenant the header's token acts for: Unauthorized if none, Unavailable if the store does not answer."""
        token_hash = hashlib.sha256(bearer_token(authorization)).hexdigest()
        tenant = self._known.get(token_hash)
        if tenant is not None:
            return tenant
        if token_hash in self._unknown:
            raise Unauthorized(INVALID_TOKEN)
        try:
            tenant = await asyncio.to_thread(self._lookup, token_hash)
        except Exception as exc:  # the database: a 503 to the caller, the detail to the log only
            log.exception("token lookup failed")
            raise Unavailable("The token store did not answer; nothing was accepted.") from exc
        if tenant is None:
            self._unknown[token_hash] = True
            raise Unauthorized(INVALID_TOKEN)
        self._known[token_hash] = tenant
        return tenant


def authorization_header(scope: Scope) -> bytes | None:
    for name, value in scope.get("headers") or ():
        if name.lower() == b"authorization":
            return bytes(value)
    return None


class Authenticate:
    """ASGI middleware: the token of every request to a protected path, before its body is read."""

    def __init__(self, app: ASGIApp, authenticator: TokenAuthenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        public = path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES) or console_public(path)
        if scope["type"] != "http" or public:
            await self.app(scope, receive, send)
            return
        try:
            tenant = await self.authenticator.tenant(authorization_header(scope))
        except IngestError as error:
            await send_error(scope.get("path", ""), error, send)
            return
        scope[TENANT_SCOPE_KEY] = tenant
        await self.app(scope, receive, send)
