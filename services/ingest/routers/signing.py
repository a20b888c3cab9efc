"""The tenant's request-signing secret: ``/api/signing-secret`` (docs/api.md "Signed requests")."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query

from chronohook.clock import iso8601_offset
from chronohook.outbound.signing import DEFAULT_GRACE, InvalidSecret, SigningKeys, standard_secret
from chronohook.store import signing_secrets as store
from services.ingest.context import Ctx, Tenant
from services.ingest.errors import RECURO_RESPONSES, invalid_input
from services.ingest.secrets import no_store
from services.ingest.signing_models import (
    MAX_GRACE_SECONDS,
    RotateSigningSecret,
    SigningSecret,
    UpdateSigningSecret,
)

router = APIRouter(prefix="/api/signing-secret", tags=["Signing"], dependencies=[Depends(no_store)])


def answer(keys: SigningKeys) -> SigningSecret:
    return SigningSecret(
        secret=standard_secret(keys.secret),
        created_at=iso8601_offset(keys.created_at),
        previous_expires_at=None if keys.previous_expires_at is None else iso8601_offset(keys.previous_expires_at),
        recuro_compat=keys.recuro_compat,
        recuro_secret=keys.secret if keys.recuro_compat else None,
    )


def _grace(seconds: int | None) -> timedelta:
    return DEFAULT_GRACE if seconds is None else timedelta(seconds=seconds)


@router.get("", response_model=SigningSecret, responses=RECURO_RESPONSES)
async def get_signing_secret(ctx: Ctx, tenant: Tenant) -> SigningSecret:
    """The secret every request to your endpoints is signed with (made on first use)."""
    keys = await asyncio.to_thread(store.signing_keys, ctx.engine, tenant, ctx.clock.now())
    return answer(keys)


@router.post("/rotate", response_model=SigningSecret, responses=RECURO_RESPONSES)
async def rotate_signing_secret(
    ctx: Ctx,
    tenant: Tenant,
    req: Annotated[RotateSigningSecret | None, Body()] = None,
    grace_seconds: Annotated[int | None, Query(ge=0, le=MAX_GRACE_SECONDS)] = None,
) -> SigningSecret:
    """A new secret; the old one keeps signing beside it (two signatures) for the grace period (24 h by default;
    `grace_seconds` in the body or the query shortens it, 0 ends it at once)."""
    seconds = req.grace_seconds if req is not None and req.grace_seconds is not None else grace_seconds
    keys = await asyncio.to_thread(store.rotate, ctx.engine, tenant, ctx.clock.now(), _grace(seconds))
    return answer(keys)


@router.put("", response_model=SigningSecret, responses=RECURO_RESPONSES)
async def update_signing_secret(req: UpdateSigningSecret, ctx: Ctx, tenant: Tenant) -> SigningSecret:
    """Switch Recuro's signature pair on or off, and/or import the secret your receivers already verify."""
    if req.secret is None and req.recuro_compat is None:
        raise invalid_input({"secret": ["The secret field is required when recuro_compat is not present."]})
    now = ctx.clock.now()
    if req.secret is not None:
        try:
            keys = await asyncio.to_thread(
                store.import_secret, ctx.engine, tenant, req.secret, now, _grace(req.grace_seconds)
            )
        except InvalidSecret as exc:
            raise invalid_input({"secret": [str(exc)]}) from exc
    if req.recuro_compat is not None:
        keys = await asyncio.to_thread(store.set_recuro_compat, ctx.engine, tenant, req.recuro_compat, now)
    return answer(keys)
