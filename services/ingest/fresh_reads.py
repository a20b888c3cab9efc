"""The read-your-writes dependency (decision 0035; the mechanisms are consistency.py): a route that reads the read
model declares ``dependencies=[FRESH]``; a route that must know whether its read is complete asks ``Fresh``."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Header, Request

from chronohook.readmodel.store import PROJECTOR_CONSUMER
from chronohook.store.write_positions import unapplied
from services.ingest.consistency import POSITION_HEADER, STALE_HEADER, mark_stale, parse_positions
from services.ingest.context import Ctx, Tenant

POSITION_DESCRIPTION = (
    f"The `{POSITION_HEADER}` a write answered (opaque; several may be sent, comma-separated or as separate headers). "
    "The read then waits, bounded (2 s by default), until those writes are applied. Without it, the read waits for "
    f"the tenant's last write through any API process. A read that gave up waiting answers `{STALE_HEADER}: true`."
)


async def fresh_read(
    request: Request,
    ctx: Ctx,
    tenant: Tenant,
    _position: Annotated[str | None, Header(alias=POSITION_HEADER, description=POSITION_DESCRIPTION)] = None,
) -> bool:
    """Wait until the read model shows the writes this read must see; False (and the stale header) past the bound.

    _position documents the header in OpenAPI; every value of it is read from the request."""
    values = request.headers.getlist(POSITION_HEADER)
    wanted = parse_positions(values, ctx.position_topics) if values else None
    if wanted is None:
        wanted = await asyncio.to_thread(unapplied, ctx.engine, tenant, PROJECTOR_CONSUMER)
        if not wanted:
            return True
    if await ctx.applied.reached(wanted, ctx.settings.read_your_writes_wait_s):
        return True
    mark_stale()
    return False


Fresh = Annotated[bool, Depends(fresh_read)]
FRESH = Depends(fresh_read)
