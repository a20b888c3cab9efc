"""Ids minted without a central counter.

* Integer ids (Recuro jobs and crons) are 53-bit snowflakes: 41 bits of milliseconds since 2025-01-01,
  6 bits of node id, 6 bits of sequence. They stay below 2**53, so JavaScript clients read them exactly.
  Each ingest process mints under a node id it leases (chronohook/store/leases.py, docs/decisions/0013), and
  only while the lease holds: the generator asks its ``MintPermit`` before every id.
* Queue ids are a stable hash of (tenant, queue name), so every ingest process agrees without talking.
* QuedUp ids are ``job_`` + 26 characters of a ULID-like, time-ordered random value.
* A create with an ``Idempotency-Key`` derives its ids instead (``derived_integer_id``, ``derived_quedup_job_id``), so a
  repeated or racing request appends the same job (docs/decisions/0019).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from typing import Protocol

from chronohook.clock import Clock, to_ms

EPOCH_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
NODE_BITS = 6
SEQUENCE_BITS = 6
MAX_SAFE_INTEGER = 2**53 - 1
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class MintPermit(Protocol):
    """What lets a generator mint under its node id: the node-id lease, or nothing in tests."""

    def check(self) -> None:
        """Raise (a ChronohookError) when ids may no longer be minted under this node id."""

    def close(self, last_ms: int) -> None:
        """Give the node id back; ids up to ``last_ms`` (Unix milliseconds) were minted under it."""


class SnowflakeIds:
    """Unique, roughly time-ordered integers for one process; thread-safe.

    The millisecond part never goes backwards: a wall clock stepped back keeps counting on the last millisecond
    used (borrowing the next one when its 64 sequences are spent), so a step back never re-mints an id.
    ``not_before_ms`` (Unix ms) is where a new holder of a leased node id starts: after its previous holder's window.
    """

    def __init__(
        self, node_id: int, clock: Clock, *, permit: MintPermit | None = None, not_before_ms: int | None = None
    ) -> None:
        if not 0 <= node_id < 2**NODE_BITS:
            raise ValueError(f"node_id must be in [0, {2**NODE_BITS - 1}]")
        self._node = node_id
        self._clock = clock
        self._permit = permit
        self._lock = threading.Lock()
        self._last_ms: int = -1 if not_before_ms is None else not_before_ms - EPOCH_MS - 1
        self._seq: int = 2**SEQUENCE_BITS - 1
        self._closed = False

    @property
    def node_id(self) -> int:
        return self._node

    def next_id(self) -> int:
        with self._lock:
            if self._closed:
                raise RuntimeError("this id generator was closed; its node id is given back")
            if self._permit is not None:
                self._permit.check()
            now = to_ms(self._clock.now()) - EPOCH_MS
            if now > self._last_ms:
                self._last_ms, self._seq = now, 0
            else:
                # Same millisecond, or the clock stepped back: keep counting on the last one used.
                self._seq += 1
                if self._seq >= 2**SEQUENCE_BITS:
                    # Borrow the next millisecond rather than spin: ids stay unique and ordered.
                    self._last_ms, self._seq = self._last_ms + 1, 0
            value = (self._last_ms << (NODE_BITS + SEQUENCE_BITS)) | (self._node << SEQUENCE_BITS) | self._seq
        if value > MAX_SAFE_INTEGER:
            raise OverflowError("snowflake id exceeds 2**53; the epoch has run out")
        return value

    def close(self) -> None:
        """Mint no more, and give the node id back (with the last millisecond used, so a successor starts after)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            last_ms = self._last_ms + EPOCH_MS
        if self._permit is not None:
            self._permit.close(last_ms)


def queue_id(tenant: str, queue: str) -> int:
    digest = hashlib.blake2b(f"{tenant}\x00{queue}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") & MAX_SAFE_INTEGER) or 1


def quedup_job_id(clock: Clock) -> str:
    value = (to_ms(clock.now()) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "job_" + "".join(reversed(chars)).lower()


def recuro_job_key(job_id: int) -> str:
    """The Kafka key and envelope ``job_id`` of a Recuro job."""
    return f"rj_{job_id}"


def recuro_cron_key(cron_id: int) -> str:
    return f"rc_{cron_id}"


def retry_job_id(original_id: int, attempt: int) -> int:
    """Deterministic id of a Recuro retry, so replaying the failure re-creates the same retry job."""
    digest = hashlib.blake2b(f"retry\x00{original_id}\x00{attempt}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") & MAX_SAFE_INTEGER) or 1


# Bit 52 marks an id derived from an Idempotency-Key (docs/decisions/0019): a snowflake reaches that bit only 2**40 ms
# (about 34.8 years, in 2059) after EPOCH_MS, so until then a derived id never equals a minted one.
DERIVED_BIT = 1 << 52


def _derived_digest(parts: tuple[object, ...], size: int) -> bytes:
    # JSON of the parts: unambiguous whatever characters a tenant name or a key holds.
    encoded = json.dumps([str(p) for p in parts], separators=(",", ":")).encode()
    return hashlib.blake2b(encoded, digest_size=size, person=b"chronohook-idem").digest()


def derived_integer_id(*parts: object) -> int:
    """A Recuro job or cron id derived from ``parts`` (tenant, endpoint, key, reservation, index): below 2**53."""
    return DERIVED_BIT | (int.from_bytes(_derived_digest(parts, 8), "big") & (DERIVED_BIT - 1))


def derived_quedup_job_id(*parts: object) -> str:
    """A QuedUp job id (``job_`` + 26 Crockford characters, 130 bits) derived from ``parts``."""
    value = int.from_bytes(_derived_digest(parts, 17), "big") >> 6
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "job_" + "".join(reversed(chars)).lower()


def deterministic_event_id(*parts: object) -> str:
    return "evt_" + hashlib.blake2b("\x00".join(map(str, parts)).encode(), digest_size=12).hexdigest()


def random_event_id() -> str:
    return "evt_" + secrets.token_hex(12)
