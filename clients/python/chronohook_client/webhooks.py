"""Verify that a request came from chronohook: its signature headers against its exact body (decision 0018).

chronohook signs every request it sends (jobs, cron occurrences, callbacks, alerts) with the Standard Webhooks
headers, and adds Recuro's pair when the tenant turned ``recuro_compat`` on:

* ``webhook-id``, ``webhook-timestamp`` (Unix seconds), ``webhook-signature``: ``v1,`` + base64 HMAC-SHA256 of
  ``{id}.{timestamp}.{body}``, several space-separated during a secret rotation. The key is a ``whsec_`` secret's
  base64-decoded tail, or an imported secret's UTF-8 bytes.
* ``X-Recuro-Timestamp``, ``X-Recuro-Signature``: lowercase hex HMAC-SHA256 of ``{timestamp}.{body}``, keyed with the
  secret string's UTF-8 bytes (for a generated secret, the whole ``whsec_...`` text; for an imported one, the secret
  as imported, whose ``whsec_`` form's tail decodes to those same bytes).

``verify_webhook`` checks every set of headers present (at least one must be) and each one's timestamp.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping, Sequence

from chronohook_client.errors import WebhookVerificationError

PREFIX = "whsec_"
DEFAULT_TOLERANCE_S = 300.0  # five minutes either way, as Standard Webhooks' verifiers allow
STANDARD = ("webhook-id", "webhook-timestamp", "webhook-signature")
RECURO = ("x-recuro-timestamp", "x-recuro-signature")

HeadersLike = Mapping[str, str] | Iterable[tuple[str, str]]


def verify_webhook(
    headers: HeadersLike,
    body: bytes | str,
    secret: str | Sequence[str],
    *,
    tolerance: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> None:
    """Return None if the request is chronohook's, else raise ``WebhookVerificationError``.

    ``headers``: the request's headers (any mapping or (name, value) pairs; names in any case). ``body``: the raw
    body, exactly as received (bytes; a str is taken as its UTF-8 encoding). ``secret``: the tenant's signing secret
    as ``GET /api/signing-secret`` shows it (``secret``, or ``recuro_secret``), or several (during a rotation on your
    side). ``tolerance``: how far, in seconds, a timestamp may be from ``now`` (Unix seconds, default the clock).
    """
    found = _lower(headers)
    raw = body.encode() if isinstance(body, str) else bytes(body)
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets or not all(isinstance(s, str) and s for s in secrets):
        raise WebhookVerificationError("No secret to verify with.")
    at = time.time() if now is None else now
    standard = [name for name in STANDARD if name in found]
    recuro = [name for name in RECURO if name in found]
    if not standard and not recuro:
        raise WebhookVerificationError("The request carries no signature headers.")
    if standard:
        _check_complete(STANDARD, standard)
        _check_standard(found, raw, secrets, at, tolerance)
    if recuro:
        _check_complete(RECURO, recuro)
        _check_recuro(found, raw, secrets, at, tolerance)


def _lower(headers: HeadersLike) -> dict[str, str]:
    # A mapping (dict, httpx's, Starlette's), or pairs; Werkzeug's headers (Flask) have items() too.
    pairs = headers.items() if hasattr(headers, "items") else headers
    return {str(name).lower(): str(value) for name, value in pairs}


def _check_complete(expected: tuple[str, ...], present: list[str]) -> None:
    missing = [name for name in expected if name not in present]
    if missing:
        raise WebhookVerificationError(f"Missing signature header(s): {', '.join(missing)}.")


def _timestamp(value: str, at: float, tolerance: float) -> int:
    try:
        stamp = int(value.strip())
    except ValueError:
        raise WebhookVerificationError("The signature timestamp is not a whole number of seconds.") from None
    if stamp < at - tolerance:
        raise WebhookVerificationError("The signature timestamp is too old.")
    if stamp > at + tolerance:
        raise WebhookVerificationError("The signature timestamp is in the future.")
    return stamp


def standard_keys(secret: str) -> list[bytes]:
    """The Standard Webhooks key of ``secret``: a ``whsec_`` secret's decoded tail, else its UTF-8 bytes."""
    if secret.startswith(PREFIX):
        try:
            return [base64.b64decode(secret[len(PREFIX) :], validate=True)]
        except (binascii.Error, ValueError):
            raise WebhookVerificationError("The secret is whsec_ followed by something other than base64.") from None
    return [secret.encode()]


def recuro_keys(secret: str) -> list[bytes]:
    """The keys Recuro's recipe may use with ``secret``: its UTF-8 text (a generated secret's whole ``whsec_`` text,
    or an imported one as given), and for a ``whsec_`` secret its decoded tail (an imported secret shown in its
    ``whsec_`` form)."""
    keys = [secret.encode()]
    if secret.startswith(PREFIX):
        keys += standard_keys(secret)
    return keys


def _check_standard(found: dict[str, str], body: bytes, secrets: list[str], at: float, tolerance: float) -> None:
    webhook_id, stamp_text, signatures = (found[name] for name in STANDARD)
    stamp = _timestamp(stamp_text, at, tolerance)
    given = [part.split(",", 1)[1] for part in signatures.split() if part.startswith("v1,")]
    if not given:
        raise WebhookVerificationError("The webhook-signature header holds no v1 signature.")
    content = f"{webhook_id}.{stamp}.".encode() + body
    for key in (key for s in secrets for key in standard_keys(s)):
        expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
        if any(hmac.compare_digest(expected, candidate) for candidate in given):
            return
    raise WebhookVerificationError("The webhook-signature does not match the body.")


def _check_recuro(found: dict[str, str], body: bytes, secrets: list[str], at: float, tolerance: float) -> None:
    stamp_text, signature = (found[name] for name in RECURO)
    stamp = _timestamp(stamp_text, at, tolerance)
    content = f"{stamp}.".encode() + body
    given = signature.strip().lower()
    for key in (key for s in secrets for key in recuro_keys(s)):
        if hmac.compare_digest(hmac.new(key, content, hashlib.sha256).hexdigest(), given):
            return
    raise WebhookVerificationError("The X-Recuro-Signature does not match the body.")
