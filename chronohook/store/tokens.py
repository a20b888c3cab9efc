"""API tokens: only a SHA-256 hash is stored; each token acts for one tenant until it is revoked.

A token's public id (``tok_`` and the first 12 hex digits of its hash) names it in listings and in ``revoke``
without showing the token; it is derived, so tokens created before ids existed have one too.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, Row, insert, select, update

from chronohook.errors import ChronohookError
from chronohook.store.tables import api_tokens

TOKEN_PREFIX = "chk_"
ID_PREFIX = "tok_"
ID_HEX_DIGITS = 12
_ID = re.compile(rf"{ID_PREFIX}(?P<hex>[0-9a-f]{{{ID_HEX_DIGITS}}})")


class TokenNotFound(ChronohookError):
    """No token (or more than one, for an id prefix) matches what was given."""


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
