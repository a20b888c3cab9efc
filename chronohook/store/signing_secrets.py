"""Each tenant's request-signing secrets, in the database (decision 0018, docs/security.md).

A tenant gets a secret on first use (its first signed request, or its first ``GET /api/signing-secret``), whichever
process comes first: two processes making one at once settle on the row that was inserted first. A rotation (or an
import) keeps the secret it replaces signing beside the new one until ``previous_expires_at``.

``StoredSigningKeys`` is the executor's view: the keys cached for a few seconds per tenant, so a rotation reaches
every request within ``ttl`` seconds without a database read per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from chronohook.outbound.signing import DEFAULT_GRACE, SigningKeys, check_secret, new_secret
from chronohook.store.tables import signing_secrets

log = logging.getLogger("chronohook.signing")


def signing_keys(engine: Engine, tenant: str, now: datetime) -> SigningKeys:
    """The tenant's keys as they stand at ``now``; a tenant without a secret gets one."""
    with engine.connect() as conn:
        found = _read(conn, tenant)
    if found is not None:
        return found.live(now)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(signing_secrets).values(tenant=tenant, secret=new_secret(), created_at=now, recuro_compat=0)
            )
    except IntegrityError:
        pass  # another process made it first: theirs is the tenant's secret
    with engine.connect() as conn:
        made = _read(conn, tenant)
    assert made is not None, "the row was just inserted"
    return made.live(now)


def rotate(engine: Engine, tenant: str, now: datetime, grace: timedelta = DEFAULT_GRACE) -> SigningKeys:
    """A new generated secret; the one it replaces signs beside it for ``grace``."""
    return _replace(engine, tenant, new_secret(), now, grace)


def import_secret(
    engine: Engine, tenant: str, secret: str, now: datetime, grace: timedelta = DEFAULT_GRACE
) -> SigningKeys:
    """The tenant's own secret (one its receivers already verify) becomes the current one. InvalidSecret unless
    ``check_secret`` accepts it. Importing the current secret again changes nothing."""
    check_secret(secret)
    current = signing_keys(engine, tenant, now)
    if current.secret == secret:
        return current
    return _replace(engine, tenant, secret, now, grace)


def set_recuro_compat(engine: Engine, tenant: str, enabled: bool, now: datetime) -> SigningKeys:
    signing_keys(engine, tenant, now)
    with engine.begin() as conn:
        conn.execute(
            update(signing_secrets).where(signing_secrets.c.tenant == tenant).values(recuro_compat=int(enabled))
        )
        found = _read(conn, tenant)
    assert found is not None
    return found.live(now)


def _replace(engine: Engine, tenant: str, secret: str, now: datetime, grace: timedelta) -> SigningKeys:
    signing_keys(engine, tenant, now)
    with engine.begin() as conn:
        # FOR UPDATE: two rotations at once on PostgreSQL each keep the one before (SQLite serialises writers).
        row = conn.execute(select(signing_secrets).where(signing_secrets.c.tenant == tenant).with_for_update()).one()
        values: dict[str, Any] = dict(secret=secret, created_at=now, previous_secret=None, previous_expires_at=None)
        if grace > timedelta(0):
            # A second rotation inside the grace period retires the older previous secret at once: one is kept.
            values.update(previous_secret=row.secret, previous_expires_at=now + grace)
        conn.execute(update(signing_secrets).where(signing_secrets.c.tenant == tenant).values(**values))
        found = _read(conn, tenant)
    assert found is not None
    return found.live(now)


def _read(conn: Connection, tenant: str) -> SigningKeys | None:
    row = conn.execute(select(signing_secrets).where(signing_secrets.c.tenant == tenant)).first()
    if row is None:
        return None
    m = row._mapping
    return SigningKeys(
        secret=str(m["secret"]),
        created_at=_aware(m["created_at"]),
        previous=m["previous_secret"],
        previous_expires_at=None if m["previous_expires_at"] is None else _aware(m["previous_expires_at"]),
        recuro_compat=bool(m["recuro_compat"]),
    )


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class StoredSigningKeys:
    """The executor's port to the stored keys: cached per tenant for ``ttl`` seconds, one read per tenant at a time.

    A read that fails while the tenant's keys are cached serves the cached ones (logged), so a database hiccup does
    not stop delivery; with nothing cached the error propagates (nothing is ever sent unsigned).
    """

    def __init__(
        self,
        engine: Engine,
        now: Callable[[], datetime],
        ttl: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._now = now
        self._ttl = ttl
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, SigningKeys]] = {}
        # One read per tenant at a time: a burst of a tenant's due jobs waits for the first read, not a read each.
        self._locks: dict[str, asyncio.Lock] = {}

    async def keys(self, tenant: str) -> SigningKeys:
        fresh = self._fresh(tenant)
        if fresh is not None:
            return fresh.live(self._now())
        async with self._locks.setdefault(tenant, asyncio.Lock()):
            fresh = self._fresh(tenant)
            if fresh is None:
                fresh = await self._load(tenant)
        return fresh.live(self._now())

    def _fresh(self, tenant: str) -> SigningKeys | None:
        cached = self._cache.get(tenant)
        return cached[1] if cached is not None and self._monotonic() < cached[0] else None

    async def _load(self, tenant: str) -> SigningKeys:
        try:
            keys = await asyncio.to_thread(signing_keys, self._engine, tenant, self._now())
        except Exception as exc:
            stale = self._cache.get(tenant)
            if stale is None:
                raise
            log.warning("signing keys of tenant %s could not be read, using the cached ones: %s", tenant, exc)
            keys = stale[1]
        self._cache[tenant] = (self._monotonic() + self._ttl, keys)
        return keys
