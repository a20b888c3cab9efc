"""Idempotency-Key reservations: the one port that makes a repeated create answer, not create (decision 0019).

A row per (tenant, scope, key), inserted if absent. The request that inserts it holds it: it appends its events, then
stores its answer (``complete``). Whoever comes next with the same key and the same body hash gets that answer; with
another body hash, a mismatch; while the holder is still at work, ``Busy`` (the caller polls, bounded). A holder
that gave up (``abandon``: its append failed) or went silent for ``stale_after`` is taken over; the row's nonce
stays, so the new holder derives the same job ids and its append repeats the same events, which the timer and the
projector ignore for a job they hold. A refusal before any append (``release``) deletes the row. Rows live
``ttl`` (24 h); an expired one is replaced, with a new nonce, as if absent.

Every change is a compare-and-set on what was read (nonce, claim), checked by its row count, so two requests never
both hold one key, on SQLite and PostgreSQL alike. Times are the caller's clock in Unix milliseconds.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Engine, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from chronohook.clock import to_ms
from chronohook.errors import ChronohookError
from chronohook.store.tables import idempotency_keys as t

TTL = timedelta(hours=24)
STALE_AFTER = timedelta(seconds=60)
MAX_ROUNDS = 8  # inserts and compare-and-sets lost to concurrent requests before giving up


class IdempotencyError(ChronohookError):
    """The reservation could not be settled (lost to concurrent requests every round)."""


@dataclass(frozen=True)
class Reservation:
    """A key this request holds: derive ids from ``nonce``, and date its events ``created_at``."""

    tenant: str
    scope: str
    key: str
    nonce: str
    created_ms: int
    claimed_ms: int
    taken_over: bool = False

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.created_ms / 1000, UTC)


@dataclass(frozen=True)
class Answered:
    """The first request's answer, to be given again as it was."""

    status: int
    body: str


@dataclass(frozen=True)
class Mismatch:
    """The key was used with another body."""


@dataclass(frozen=True)
class Busy:
    """Another request holds the key and is still at work."""


Claim = Reservation | Answered | Mismatch | Busy


class IdempotencyKeys:
    def __init__(self, engine: Engine, ttl: timedelta = TTL, stale_after: timedelta = STALE_AFTER) -> None:
        self._engine = engine
        self._ttl_ms = int(ttl.total_seconds() * 1000)
        self._stale_ms = int(stale_after.total_seconds() * 1000)

    def claim(self, tenant: str, scope: str, key: str, body_sha256: str, now: datetime) -> Claim:
        """Hold the key (a Reservation), or say why not: its answer, another body, or a live holder."""
        now_ms = to_ms(now)
        where = and_(t.c.tenant == tenant, t.c.scope == scope, t.c.key == key)
        for _ in range(MAX_ROUNDS):
            with self._engine.begin() as conn:
                row = conn.execute(select(t).where(where)).first()
            if row is None or row.expires_ms <= now_ms:
                if row is not None:  # expired: as if absent
                    with self._engine.begin() as conn:
                        conn.execute(delete(t).where(where, t.c.nonce == row.nonce))
                nonce = secrets.token_hex(16)
                try:
                    with self._engine.begin() as conn:
                        conn.execute(
                            insert(t).values(
                                tenant=tenant,
                                scope=scope,
                                key=key,
                                body_sha256=body_sha256,
                                nonce=nonce,
                                created_ms=now_ms,
                                expires_ms=now_ms + self._ttl_ms,
                                claimed_ms=now_ms,
                            )
                        )
                except IntegrityError:
                    continue  # a concurrent request inserted it first: read what it wrote
                return Reservation(tenant, scope, key, nonce, now_ms, now_ms)
            if row.body_sha256 != body_sha256:
                return Mismatch()
            if row.response_json is not None:
                return Answered(int(row.status), str(row.response_json))
            if row.claimed_ms is not None and row.claimed_ms > now_ms - self._stale_ms:
                return Busy()
            # Its holder gave up or went silent: take it over, keeping the nonce (the same job ids).
            with self._engine.begin() as conn:
                claimed = conn.execute(
                    update(t)
                    .where(
                        where,
                        t.c.nonce == row.nonce,
                        t.c.response_json.is_(None),
                        t.c.claimed_ms.is_(None) if row.claimed_ms is None else t.c.claimed_ms == row.claimed_ms,
                    )
                    .values(claimed_ms=now_ms)
                ).rowcount
            if claimed == 1:
                return Reservation(tenant, scope, key, row.nonce, int(row.created_ms), now_ms, taken_over=True)
        raise IdempotencyError(f"the Idempotency-Key reservation for {scope} could not be settled")

    def complete(self, held: Reservation, status: int, body: str) -> None:
        """Store the answer (the first one stored stays: a taken-over holder's equal answer changes nothing)."""
        with self._engine.begin() as conn:
            conn.execute(
                update(t).where(self._row(held), t.c.response_json.is_(None)).values(status=status, response_json=body)
            )

    def release(self, held: Reservation) -> None:
        """Nothing was appended (the request was refused): forget the key, so it may be sent again."""
        with self._engine.begin() as conn:
            conn.execute(
                delete(t).where(self._row(held), t.c.claimed_ms == held.claimed_ms, t.c.response_json.is_(None))
            )

    def abandon(self, held: Reservation) -> None:
        """The append may or may not have happened: let the next request take over at once, with the same ids."""
        with self._engine.begin() as conn:
            conn.execute(
                update(t)
                .where(self._row(held), t.c.claimed_ms == held.claimed_ms, t.c.response_json.is_(None))
                .values(claimed_ms=None)
            )

    def purge_expired(self, now: datetime) -> int:
        """Delete the rows past their expiry; how many."""
        with self._engine.begin() as conn:
            return conn.execute(delete(t).where(t.c.expires_ms <= to_ms(now))).rowcount

    @staticmethod
    def _row(held: Reservation) -> ColumnElement[bool]:
        return and_(t.c.tenant == held.tenant, t.c.scope == held.scope, t.c.key == held.key, t.c.nonce == held.nonce)
