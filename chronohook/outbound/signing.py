"""Signing outbound requests (docs/api.md "Signed requests", decision 0018).

Every request that leaves (a job's, a cron's, a callback, an alert) carries the Standard Webhooks headers:
``webhook-id`` (the same on every attempt of one delivery), ``webhook-timestamp`` (Unix seconds of this attempt) and
``webhook-signature`` (``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}``; during a rotation the new and the
previous secret's signatures, space-separated). A tenant that switched Recuro's pair on also gets
``X-Recuro-Timestamp`` and ``X-Recuro-Signature`` (lowercase hex HMAC-SHA256 of ``{timestamp}.{body}``).

Key bytes: a ``whsec_`` secret's Standard Webhooks key is its base64-decoded tail (the spec's rule); an imported
secret without the prefix (a Recuro secret) keys both schemes with its UTF-8 bytes, and reads back as ``whsec_`` +
base64 of those bytes, so one secret verifies both ways. Recuro's recipe always keys with the secret string as given,
UTF-8 encoded (``hash_hmac('sha256', "$ts.$body", $secret)``); for a generated secret that is the whole ``whsec_...``
text.

Pure: the time is passed in; no secret ever goes into a header, a log line or an error message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from standardwebhooks import Webhook

from chronohook.outbound.errors import OutboundError

SECRET_PREFIX = "whsec_"
# 32 random bytes: inside the spec's 24-64, and SHA-256's block-size-friendly key length.
SECRET_BYTES = 32
# What an imported secret must look like: the spec's sizes for a whsec_ one; printable ASCII of a sane length else.
STANDARD_KEY_BYTES = (24, 64)
IMPORTED_LENGTH = (16, 512)

WEBHOOK_ID = "webhook-id"
WEBHOOK_TIMESTAMP = "webhook-timestamp"
WEBHOOK_SIGNATURE = "webhook-signature"
RECURO_TIMESTAMP = "X-Recuro-Timestamp"
RECURO_SIGNATURE = "X-Recuro-Signature"
# Ours alone: a job's own header of one of these names (any case) is dropped, never sent beside ours.
SIGNATURE_HEADERS = frozenset(
    name.lower() for name in (WEBHOOK_ID, WEBHOOK_TIMESTAMP, WEBHOOK_SIGNATURE, RECURO_TIMESTAMP, RECURO_SIGNATURE)
)

# How long a rotated-out secret keeps signing beside the new one, by default and at most.
DEFAULT_GRACE = timedelta(hours=24)
MAX_GRACE = timedelta(hours=24)


class InvalidSecret(OutboundError):
    """A secret given to import is not one we can sign with; the message is worded for its owner (never quotes it)."""


def new_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes (Standard Webhooks' format)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def check_secret(secret: str) -> None:
    """Raise InvalidSecret unless ``secret`` can be imported: a ``whsec_`` secret of 24-64 base64 bytes, or a
    Recuro-style secret of 16-512 printable ASCII characters (no spaces)."""
    if secret.startswith(SECRET_PREFIX):
        try:
            key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidSecret("The secret must be whsec_ followed by standard base64.") from exc
        low, high = STANDARD_KEY_BYTES
        if not low <= len(key) <= high:
            raise InvalidSecret(f"The secret's key must be {low} to {high} bytes, not {len(key)}.")
        return
    low, high = IMPORTED_LENGTH
    if not low <= len(secret) <= high:
        raise InvalidSecret(f"The secret must be {low} to {high} characters long.")
    if not all("!" <= ch <= "~" for ch in secret):
        raise InvalidSecret("The secret must be printable ASCII without spaces.")


def standard_key(secret: str) -> bytes:
    """The HMAC key Standard Webhooks signs with: a whsec_ secret's decoded bytes; else the secret's UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret[len(SECRET_PREFIX) :])
    return secret.encode()


def standard_secret(secret: str) -> str:
    """The ``whsec_`` form a receiver gives ``standardwebhooks.Webhook``: the secret itself, or the imported one's
    UTF-8 bytes in base64."""
    if secret.startswith(SECRET_PREFIX):
        return secret
    return SECRET_PREFIX + base64.b64encode(secret.encode()).decode()


@dataclass(frozen=True)
class SigningKeys:
    """A tenant's signing secrets as stored: the current one, the previous one while it is in its grace period,
    and whether Recuro's pair is sent too."""

    secret: str
    created_at: datetime
    previous: str | None = None
    previous_expires_at: datetime | None = None
    recuro_compat: bool = False
    # Built once per key set (the executor caches it): decoding a secret per request is wasted work.
    _current: Webhook = field(init=False, repr=False, compare=False)
    _previous: Webhook | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_current", Webhook(standard_key(self.secret)))
        prev = None if self.previous is None else Webhook(standard_key(self.previous))
        object.__setattr__(self, "_previous", prev)

    def in_grace(self, now: datetime) -> bool:
        """Whether the previous secret still signs at ``now``."""
        return self.previous is not None and self.previous_expires_at is not None and now < self.previous_expires_at

    def live(self, now: datetime) -> SigningKeys:
        """These keys as they stand at ``now``: a previous secret past its grace period is gone."""
        if self.previous is None or self.in_grace(now):
            return self
        return SigningKeys(self.secret, self.created_at, recuro_compat=self.recuro_compat)

    def signers(self, now: datetime) -> tuple[Webhook, ...]:
        if self._previous is not None and self.in_grace(now):
            return (self._current, self._previous)
        return (self._current,)


def unix_seconds(now: datetime) -> int:
    return int(now.timestamp())


def signature_headers(keys: SigningKeys, webhook_id: str, body: str | None, now: datetime) -> dict[str, str]:
    """The signature headers of one attempt sent at ``now`` with exactly ``body`` (None: an empty body).

    The body is signed as the sender encodes it (UTF-8), so the signature covers the exact bytes on the wire.
    """
    text = body or ""
    timestamp = unix_seconds(now)
    at = datetime.fromtimestamp(timestamp, UTC)
    signatures = " ".join(signer.sign(webhook_id, at, text) for signer in keys.signers(now))
    headers = {WEBHOOK_ID: webhook_id, WEBHOOK_TIMESTAMP: str(timestamp), WEBHOOK_SIGNATURE: signatures}
    if keys.recuro_compat:
        headers[RECURO_TIMESTAMP] = str(timestamp)
        headers[RECURO_SIGNATURE] = recuro_signature(keys.secret, timestamp, text.encode())
    return headers


def recuro_signature(secret: str, timestamp: int, body: bytes) -> str:
    """Recuro's recipe: lowercase hex HMAC-SHA256, keyed with the secret string's UTF-8 bytes, of ``{ts}.{body}``."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signed(
    headers: Mapping[str, str], keys: SigningKeys, webhook_id: str, body: str | None, now: datetime
) -> dict[str, str]:
    """``headers`` with the signature headers set (any of the same name, in any case, replaced)."""
    kept = {name: value for name, value in headers.items() if name.lower() not in SIGNATURE_HEADERS}
    kept.update(signature_headers(keys, webhook_id, body, now))
    return kept


class SigningKeysSource(Protocol):
    """Where the executor (and the alert sender) get a tenant's keys; a tenant without a secret gets one made."""

    async def keys(self, tenant: str) -> SigningKeys: ...


class InMemorySigningKeys:
    """Keys held in a dict (tests, and a process composed without a database): made on first use."""

    def __init__(self, now: datetime | None = None) -> None:
        self._keys: dict[str, SigningKeys] = {}
        self._now = now

    def set(self, tenant: str, keys: SigningKeys) -> None:
        self._keys[tenant] = keys

    async def keys(self, tenant: str) -> SigningKeys:
        found = self._keys.get(tenant)
        if found is None:
            found = SigningKeys(new_secret(), self._now or datetime.now(UTC))
            self._keys[tenant] = found
        return found
