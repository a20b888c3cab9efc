"""The client's errors: one base, an API error per answer class carrying the API's error body, and the transport's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ChronohookError(Exception):
    """Base of every error this package raises."""


class TransportError(ChronohookError):
    """The API could not be reached, or did not answer in time (the request may or may not have arrived)."""


class APIError(ChronohookError):
    """The API answered an error status. ``body`` is its JSON body as sent: Recuro's ``{"message", "errors"}``,
    QuedUp's ``{"error", "errors"}``; ``message`` and ``errors`` read either."""

    def __init__(self, status_code: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        self.status_code = status_code
        self.body = body
        self.headers = dict(headers or {})
        self.message = _message(body) or f"HTTP {status_code}"
        self.errors: dict[str, list[str]] = _errors(body)
        super().__init__(f"{status_code}: {self.message}")


class AuthenticationError(APIError):
    """401: the token is missing, unknown or revoked."""


class NotFoundError(APIError):
    """404: no such resource for this tenant (or a path the API does not serve)."""


class ConflictError(APIError):
    """409: a name taken, a dead letter replayed already, a queue that still holds jobs, an idempotency key at work."""


class PayloadTooLargeError(APIError):
    """413: the body or the job's event is over its limit."""


class ValidationError(APIError):
    """422: invalid input; ``errors`` names each field."""


class RateLimitedError(APIError):
    """429: the tenant's creation rate or pending cap; nothing was accepted. ``retry_after`` in seconds, if given."""

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("retry-after") or self.headers.get("Retry-After"))


class ServerError(APIError):
    """5xx; a 503 means nothing was accepted (the job log or the token store did not answer)."""


def error_for(status_code: int, body: Any, headers: Mapping[str, str] | None = None) -> APIError:
    kinds: dict[int, type[APIError]] = {
        401: AuthenticationError,
        404: NotFoundError,
        409: ConflictError,
        413: PayloadTooLargeError,
        422: ValidationError,
        429: RateLimitedError,
    }
    kind = kinds.get(status_code, ServerError if status_code >= 500 else APIError)
    return kind(status_code, body, headers)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` value: delta-seconds, or an HTTP date (seconds from now, at least 0)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _message(body: Any) -> str | None:
    if isinstance(body, dict):
        for key in ("message", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
    if isinstance(body, str) and body:
        return body[:500]
    return None


def _errors(body: Any) -> dict[str, list[str]]:
    if isinstance(body, dict) and isinstance(body.get("errors"), dict):
        return {str(k): [str(m) for m in v] if isinstance(v, list) else [str(v)] for k, v in body["errors"].items()}
    return {}


class WebhookVerificationError(ChronohookError):
    """A request's signature headers are missing, malformed, too old or too new, or do not match its body."""
