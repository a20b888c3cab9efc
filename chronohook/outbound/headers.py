"""The request-header policy: which headers a job may set, how many and how big (docs/security.md).

The sender owns framing and the connection: ``Host`` comes from the URL, ``Content-Length`` and
``Transfer-Encoding`` from the body, and the hop-by-hop headers from aiohttp. A job that set them could cut its
own body, smuggle a second request or aim the request at another virtual host, so they are refused outright.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from chronohook.outbound.errors import HeaderRefused

MAX_HEADERS = 50
# Names plus values, UTF-8 encoded.
MAX_HEADER_BYTES = 8192

_FROM_URL = frozenset({"host"})
_FROM_BODY = frozenset({"content-length", "transfer-encoding"})
_HOP_BY_HOP = frozenset({"connection", "upgrade", "te", "trailer", "expect", "keep-alive"})
FORBIDDEN_HEADERS: frozenset[str] = _FROM_URL | _FROM_BODY | _HOP_BY_HOP
# Every ``Proxy-*`` header (Proxy-Authorization, Proxy-Connection, ...) is refused as well.
FORBIDDEN_PREFIX = "proxy-"

# RFC 9110 token characters for a header name.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# CR, LF and NUL would end the header line early (request smuggling); other controls are no text either. Tab is fine.
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def refused_header_reason(name: str) -> str | None:
    """Why the sender will not send a header of this name, or None."""
    lowered = name.lower()
    if lowered in _FROM_URL:
        return f"header {name!r} cannot be set: the sender sets it from the URL"
    if lowered in _FROM_BODY:
        return f"header {name!r} cannot be set: the sender sets it from the body"
    if lowered in _HOP_BY_HOP:
        return f"header {name!r} cannot be set: the sender manages the connection"
    if lowered.startswith(FORBIDDEN_PREFIX):
        return f"header {name!r} cannot be set: proxy headers are never sent"
    return None


def check_headers(headers: Mapping[str, str]) -> None:
    """Raise HeaderRefused, worded for the job's owner, unless every header may be sent as given."""
    if len(headers) > MAX_HEADERS:
        raise HeaderRefused(f"at most {MAX_HEADERS} headers may be set, not {len(headers)}")
    total = 0
    for name, value in headers.items():
        reason = refused_header_reason(name)
        if reason is not None:
            raise HeaderRefused(reason)
        if not _TOKEN.match(name):
            raise HeaderRefused(f"header name {name!r} is not a valid HTTP header name")
        if _BAD_VALUE.search(value):
            raise HeaderRefused(f"header {name!r} has control characters in its value")
        try:
            total += len(name.encode()) + len(value.encode())
        except UnicodeEncodeError as exc:
            raise HeaderRefused(f"header {name!r} is not valid UTF-8 text") from exc
    if total > MAX_HEADER_BYTES:
        raise HeaderRefused(f"headers may hold at most {MAX_HEADER_BYTES} bytes in all (names and values), not {total}")
