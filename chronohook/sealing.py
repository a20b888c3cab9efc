"""Secrets at rest (decision 0044): sensitive request headers sealed by envelope encryption, masked on every read.

A sealed value is one string that replaces the header's value in every event and read model::

    chs1:<key id>:<wrapped data key>:<nonce + ciphertext>      (the last two URL-safe base64, unpadded)

Each value gets a fresh 256-bit data key; the value is encrypted with it (AES-256-GCM, its associated data the
tenant and the header's name, so a sealed value copied onto another tenant's job or another header does not open);
the data key is wrapped by the key-encryption key ``CHRONOHOOK_SECRET_KEY`` (AES-256-GCM, its associated data the
key id). The key id (the first 8 hex digits of the key's SHA-256) says which key wrapped it: after a rotation the new
key seals and the keys in ``CHRONOHOOK_SECRET_KEYS_RETIRED`` still open what older events carry.

The shape of the events does not change (a header value stays a string): older events, whose values are in clear,
read and deliver as before. Only the executor opens, just before it sends.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chronohook.errors import ChronohookError

if TYPE_CHECKING:
    from chronohook.settings import Settings

log = logging.getLogger(__name__)

PREFIX = "chs1:"
MASK = "***"
# Masked and sealed for every job; a job's ``sensitive_headers`` and its queue's add to them (case-insensitive).
DEFAULT_SENSITIVE = ("Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key")
_DEFAULT_LOWER = frozenset(name.lower() for name in DEFAULT_SENSITIVE)
KEY_BYTES = 32
_NONCE = 12


class SealError(ChronohookError):
    """A sealed value that cannot be opened: its key is unknown here, or it was altered."""


class SecretKeyMissing(ChronohookError):
    """A service that seals or opens started without ``CHRONOHOOK_SECRET_KEY``."""


class SecretKeyInvalid(ChronohookError, ValueError):
    """A key that is not 32 bytes in URL-safe base64."""


def generate_key() -> str:
    """A new key-encryption key, as ``CHRONOHOOK_SECRET_KEY`` takes it (``chronohook secrets generate-key``)."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()


def parse_key(text: str) -> bytes:
    """The 32 bytes a key's text stands for, or SecretKeyInvalid (the message never repeats the text)."""
    try:
        bare = text.strip().rstrip("=").encode("ascii")
        raw = base64.b64decode(bare + b"=" * (-len(bare) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise SecretKeyInvalid(
            "a secret key must be 32 bytes in URL-safe base64 (chronohook secrets generate-key)"
        ) from None
    if len(raw) != KEY_BYTES:
        raise SecretKeyInvalid(f"a secret key must be 32 bytes in URL-safe base64, this one is {len(raw)} bytes")
    return raw


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"chronohook-secret-key\x00" + key).hexdigest()[:8]


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def sensitive_names(extra: Iterable[str] = ()) -> frozenset[str]:
    """The lower-case header names sealed and masked: the defaults plus ``extra`` (a job's and its queue's)."""
    return _DEFAULT_LOWER | {name.lower() for name in extra}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _aad(tenant: str, name: str) -> bytes:
    return f"chronohook-header\x00{tenant}\x00{name.lower()}".encode()


@dataclass(frozen=True)
class KeyRing:
    """The current key (seals) and the retired ones (still open). Empty: nothing is sealed (``secrets_in_clear``)."""

    current: bytes | None = None
    retired: tuple[bytes, ...] = ()
    _by_id: dict[str, bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = ([self.current] if self.current is not None else []) + list(self.retired)
        object.__setattr__(self, "_by_id", {key_id(k): k for k in keys})

    @classmethod
    def of(cls, current: str | None, retired: str | None = None) -> KeyRing:
        """The ring of ``current`` and the comma-separated ``retired``; SecretKeyInvalid naming which is malformed
        (never repeating it)."""
        try:
            key = None if current is None else parse_key(current)
        except SecretKeyInvalid as exc:
            raise SecretKeyInvalid(f"CHRONOHOOK_SECRET_KEY: {exc}") from None
        old = []
        for n, part in enumerate(p for p in (retired or "").split(",") if p.strip()):
            try:
                old.append(parse_key(part))
            except SecretKeyInvalid as exc:
                raise SecretKeyInvalid(f"CHRONOHOOK_SECRET_KEYS_RETIRED, key {n + 1}: {exc}") from None
        return cls(key, tuple(old))

    @property
    def seals(self) -> bool:
        return self.current is not None

    @property
    def current_id(self) -> str | None:
        return None if self.current is None else key_id(self.current)

    def roles(self) -> dict[str, str]:
        """Each configured key's id and role, ``current`` first, then ``retired`` in the order given."""
        out = {} if self.current is None else {key_id(self.current): "current"}
        for key in self.retired:
            out.setdefault(key_id(key), "retired")
        return out

    def seal(self, value: str, tenant: str, name: str) -> str:
        """``value`` sealed under the current key; as it is when already sealed or when there is no key."""
        if self.current is None or is_sealed(value):
            return value
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        kid = key_id(self.current)
        data_key = AESGCM.generate_key(bit_length=256)
        wrap_nonce, nonce = os.urandom(_NONCE), os.urandom(_NONCE)
        wrapped = wrap_nonce + AESGCM(self.current).encrypt(wrap_nonce, data_key, kid.encode())
        sealed = nonce + AESGCM(data_key).encrypt(nonce, value.encode(), _aad(tenant, name))
        return f"{PREFIX}{kid}:{_b64(wrapped)}:{_b64(sealed)}"

    def open(self, value: str, tenant: str, name: str) -> str:
        """The clear text of a sealed ``value`` (a clear one is returned as it is), or SealError."""
        if not is_sealed(value):
            return value
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            kid, wrapped_text, sealed_text = value[len(PREFIX) :].split(":")
            wrapped, sealed = _unb64(wrapped_text), _unb64(sealed_text)
        except (ValueError, binascii.Error):
            raise SealError(f"the sealed value of header {name!r} is malformed") from None
        key = self._by_id.get(kid)
        if key is None:
            raise SealError(
                f"header {name!r} was sealed under key {kid}, which is neither CHRONOHOOK_SECRET_KEY nor among "
                "CHRONOHOOK_SECRET_KEYS_RETIRED"
            )
        try:
            data_key = AESGCM(key).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], kid.encode())
            return AESGCM(data_key).decrypt(sealed[:_NONCE], sealed[_NONCE:], _aad(tenant, name)).decode()
        except (InvalidTag, ValueError):
            why = "altered, or not this tenant's"
            raise SealError(f"the sealed value of header {name!r} does not open ({why})") from None

    def seal_headers(self, headers: Mapping[str, str], tenant: str, extra: Iterable[str] = ()) -> dict[str, str]:
        """``headers`` with the value of every sensitive one sealed."""
        names = sensitive_names(extra)
        return {k: (self.seal(v, tenant, k) if k.lower() in names else v) for k, v in headers.items()}

    def open_headers(self, headers: Mapping[str, str], tenant: str) -> dict[str, str]:
        """``headers`` as they go on the wire: every sealed value opened (SealError when one cannot be)."""
        return {k: self.open(v, tenant, k) for k, v in headers.items()}


def masked_headers(headers: Mapping[str, str], extra: Iterable[str] = ()) -> dict[str, str]:
    """``headers`` as every answer shows them: a sensitive name's value, and any sealed value, as ``***``."""
    names = sensitive_names(extra)
    return {k: (MASK if k.lower() in names or is_sealed(v) else v) for k, v in headers.items()}


_HEADER_FIELDS = frozenset({"headers", "request_headers"})
# A Recuro job's JSON payload is a body: shown as it is, whatever keys it holds.
_BODY_FIELDS = frozenset({"payload"})


def masked_document(doc: Any, extra: Iterable[str] = ()) -> Any:
    """A JSON-like document (an event's payload in a job's history) with every header map masked and every sealed
    string replaced by ``***``, wherever it sits; other values (bodies, payloads) as they are."""
    if isinstance(doc, dict):
        own = doc.get("sensitive_headers")
        names = tuple(extra) + (tuple(n for n in own if isinstance(n, str)) if isinstance(own, list | tuple) else ())
        out: dict[str, Any] = {}
        for k, v in doc.items():
            if k in _HEADER_FIELDS and isinstance(v, dict) and all(isinstance(x, str) for x in v.values()):
                out[k] = masked_headers(v, names)
            elif k in _BODY_FIELDS:
                out[k] = v
            else:
                out[k] = masked_document(v, names)
        return out
    if isinstance(doc, list):
        return [masked_document(item, extra) for item in doc]
    return MASK if is_sealed(doc) else doc


def key_ring(current: str | None, retired: str | None, in_clear: bool, service: str) -> KeyRing:
    """The key ring a service that seals or opens starts with; SecretKeyMissing, naming the way out, without a key
    unless ``in_clear`` says to store sensitive headers in clear."""
    if current is None and not in_clear:
        raise SecretKeyMissing(
            f"the {service} needs CHRONOHOOK_SECRET_KEY to seal sensitive request headers (Authorization, Cookie, ...) "
            "in the job log and the read models: set it on every ingest and executor (`chronohook secrets "
            "generate-key` makes one; docs/security.md), or set CHRONOHOOK_SECRETS_IN_CLEAR=true to keep them in "
            "clear (not for production)"
        )
    return KeyRing.of(current, retired)


def settings_ring(settings: Settings, service: str | None = None) -> KeyRing:
    """The key ring from the settings. ``service``: the process is one that must seal or open (it refuses to start
    without a key, naming itself); None (an app composed in a test): no key means nothing is sealed."""
    current = None if settings.secret_key is None else settings.secret_key.get_secret_value()
    retired = None if settings.secret_keys_retired is None else settings.secret_keys_retired.get_secret_value()
    if service is None:
        return KeyRing.of(current, retired)
    ring = key_ring(current, retired, settings.secrets_in_clear, service)
    if not ring.seals:
        log.warning(
            "CHRONOHOOK_SECRETS_IN_CLEAR: the %s keeps sensitive request headers (Authorization, Cookie, ...) in clear "
            "in the job log and the read models; set CHRONOHOOK_SECRET_KEY to seal them (docs/security.md)",
            service,
        )
    return ring
