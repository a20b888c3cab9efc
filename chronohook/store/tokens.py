"""API tokens: only a SHA-256 hash is stored; each token acts for one tenant until it is revoked.

A token's public id (``tok_`` and the first 12 hex digits of its hash) names it in listings and in ``revoke``
without showing the token; it is derived, so tokens created before ids existed have one too.

A token made elsewhere (a Recuro or QuedUp token a migrating client is configured with) can be imported as it is
(``import_token``), so the client changes only its base URL; it is then a token like any other.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from chronohook.errors import ChronohookError
from chronohook.store.tables import api_tokens

TOKEN_PREFIX = "chk_"
ID_PREFIX = "tok_"
ID_HEX_DIGITS = 12
_ID = re.compile(rf"{ID_PREFIX}(?P<hex>[0-9a-f]{{{ID_HEX_DIGITS}}})")
# An imported token: what an ``Authorization: Bearer`` header can carry and ingest looks up (RFC 6750's b64token, at
# most 256 characters: services/ingest/auth.py), and at least 16 characters, so that it is not guessed.
IMPORTED_MIN_CHARS = 16
IMPORTED_MAX_CHARS = 256
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class TokenNotFound(ChronohookError):
    """No token (or more than one, for an id prefix) matches what was given."""


class TokenRefused(ChronohookError):
    """A token value cannot be imported; the message says why (never quoting the value)."""


class TokenExists(TokenRefused):
    """The token is registered already (perhaps revoked): it acts for one tenant only, and a revoked one stays so."""


@dataclass(frozen=True)
class TokenInfo:
    id: str
    tenant: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id(token_hash: str) -> str:
    return ID_PREFIX + token_hash[:ID_HEX_DIGITS]


def create_token(engine: Engine, tenant: str, label: str | None = None) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(
            insert(api_tokens).values(
                token_hash=hash_token(token), tenant=tenant, label=label, created_at=datetime.now(UTC)
            )
        )
    return token


def check_imported_token(token: str) -> None:
    """TokenRefused unless ``token`` is one a Bearer header can carry: 16-256 characters of RFC 6750's b64token
    (letters, digits, ``-._~+/``, then optional ``=``): printable, no whitespace."""
    if not IMPORTED_MIN_CHARS <= len(token) <= IMPORTED_MAX_CHARS:
        raise TokenRefused(
            f"a token has {IMPORTED_MIN_CHARS} to {IMPORTED_MAX_CHARS} characters; this one has {len(token)}"
        )
    if not _B64TOKEN.fullmatch(token):
        raise TokenRefused(
            "a token is one word of letters, digits and - . _ ~ + / (then optional =), as a Bearer header carries it: "
            "no spaces, line breaks, control or other characters"
        )


def import_token(engine: Engine, tenant: str, token: str, label: str | None = None) -> TokenInfo:
    """Register an existing token value for ``tenant`` (its hash only, as ``create_token``); TokenRefused when it is
    not a valid token, TokenExists when it is registered already (for any tenant, revoked or not)."""
    check_imported_token(token)
    token_hash = hash_token(token)
    found = select(api_tokens).where(api_tokens.c.token_hash == token_hash)
    try:
        with engine.begin() as conn:
            if (row := conn.execute(found).first()) is None:
                conn.execute(
                    insert(api_tokens).values(
                        token_hash=token_hash, tenant=tenant, label=label, created_at=datetime.now(UTC)
                    )
                )
                row = conn.execute(found).one()
                return _info(row)
    except IntegrityError:  # imported at the same moment by another command
        with engine.connect() as conn:
            row = conn.execute(found).one()
    info = _info(row)
    state = "revoked" if info.revoked_at is not None else "active"
    raise TokenExists(f"this token is registered already as {info.id} (tenant {info.tenant}, {state}); nothing changed")


def tenant_for_token(engine: Engine, token: str) -> str | None:
    return tenant_for_hash(engine, hash_token(token))


def tenant_for_hash(engine: Engine, token_hash: str) -> str | None:
    """The tenant of a token that is not revoked, by the token's SHA-256 (hex); None otherwise."""
    query = select(api_tokens.c.tenant).where(api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None))
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else str(row[0])


def list_tokens(engine: Engine, tenant: str | None = None) -> list[TokenInfo]:
    query = select(api_tokens).order_by(api_tokens.c.created_at, api_tokens.c.token_hash)
    if tenant is not None:
        query = query.where(api_tokens.c.tenant == tenant)
    with engine.connect() as conn:
        return [_info(row) for row in conn.execute(query)]


def revoke_token(engine: Engine, token_or_id: str, now: datetime | None = None) -> TokenInfo:
    """Revoke a token given itself or its id; revoking twice keeps the first time. TokenNotFound otherwise."""
    given = token_or_id.strip()
    match = _ID.fullmatch(given)
    # The id's hex digits are checked above, so they are safe in a LIKE pattern.
    where = api_tokens.c.token_hash.like(f"{match['hex']}%") if match else api_tokens.c.token_hash == hash_token(given)
    with engine.begin() as conn:
        rows = conn.execute(select(api_tokens.c.token_hash).where(where).limit(2)).all()
        if len(rows) != 1:
            raise TokenNotFound("no such token" if not rows else f"{given} names more than one token: give the token")
        token_hash = str(rows[0][0])
        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now or datetime.now(UTC))
        )
        row = conn.execute(select(api_tokens).where(api_tokens.c.token_hash == token_hash)).one()
    return _info(row)


def _info(row: Row[tuple[object, ...]]) -> TokenInfo:
    m = row._mapping
    return TokenInfo(
        id=token_id(str(m["token_hash"])),
        tenant=str(m["tenant"]),
        label=m["label"],
        created_at=_aware(m["created_at"]),
        revoked_at=None if m["revoked_at"] is None else _aware(m["revoked_at"]),
    )


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
