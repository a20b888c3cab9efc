"""Whatever a target sends becomes text the job log and both stores can hold (docs/security.md).

aiohttp decodes header bytes as UTF-8 with ``surrogateescape``: a ``\\xff`` byte arrives as a lone surrogate,
which UTF-8 (and so the event's JSON) cannot encode. NUL is valid UTF-8 but PostgreSQL's text and jsonb refuse it.
Both become U+FFFD, the replacement character.
"""

from __future__ import annotations

REPLACEMENT = "\ufffd"


def valid_text(text: str) -> str:
    """``text`` with escaped bytes and lone surrogates decoded or replaced, and NUL replaced: always UTF-8 encodable."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Bytes aiohttp escaped come back as the bytes they were; anything UTF-8 cannot read becomes U+FFFD.
        errors = "surrogateescape" if _only_escapes(text) else "surrogatepass"
        text = text.encode("utf-8", errors).decode("utf-8", "replace")
    return text.replace("\x00", REPLACEMENT)


def _only_escapes(text: str) -> bool:
    # surrogateescape can only re-encode U+DC80..U+DCFF; any other surrogate must be replaced.
    return all(not ("\ud800" <= c <= "\udfff") or "\udc80" <= c <= "\udcff" for c in text)


def decoded_body(raw: bytes) -> str:
    """A response body as text: UTF-8, with undecodable bytes and NUL as U+FFFD."""
    return raw.decode("utf-8", "replace").replace("\x00", REPLACEMENT)


def capped(text: str, max_bytes: int) -> tuple[str, bool]:
    """At most ``max_bytes`` of UTF-8 (never a split character), and whether anything was cut."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text, False
    return encoded[:max_bytes].decode("utf-8", "ignore"), True
