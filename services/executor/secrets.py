"""Opening sealed headers just before a send (decision 0044): the wire gets the clear values, the recorded run keeps
the sealed ones. A value that does not open fails the attempt (and its retries follow) instead of sending it."""

from __future__ import annotations

import time

from chronohook.outbound.sender import SendResult
from chronohook.sealing import KeyRing, SealError, is_sealed
from schemas.events import HttpRequestSpec


def opened(
    ring: KeyRing, request: HttpRequestSpec, headers: dict[str, str], tenant: str
) -> tuple[HttpRequestSpec, dict[str, str]]:
    """``request`` and the headers to send with every sealed value opened; SealError when one cannot be."""
    if not any(is_sealed(value) for value in headers.values()):
        return request, headers
    wire = ring.open_headers(headers, tenant)
    return request.model_copy(update={"headers": ring.open_headers(request.headers, tenant)}), wire


def unopened(error: SealError) -> SendResult:
    """The attempt's result when a sealed header does not open: nothing was sent."""
    return SendResult(
        started_at_monotonic=time.monotonic(),
        duration_ms=0.0,
        failure_reason="unknown",
        error_message=f"not sent: {error} (docs/security.md, key rotation)",
    )
