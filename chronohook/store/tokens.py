"""API tokens: only a SHA-256 hash is stored; each token acts for one tenant."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select

from chronohook.store.tables import api_tokens

TOKEN_PREFIX = "chk_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
    with engine.connect() as conn:
        row = conn.execute(select(api_tokens.c.tenant).where(api_tokens.c.token_hash == hash_token(token))).first()
    return None if row is None else str(row[0])
