"""The one piece of HTTP/1.1 parsing the bench's raw client and receiver share."""

from __future__ import annotations


def content_length(head_lower: bytes) -> int:
    """Content-Length from a lower-cased header block (request or status line first); 0 when absent.

    Raises ValueError on a value that is not a non-negative number.
    """
    start = head_lower.find(b"\r\ncontent-length:")
    if start < 0:
        return 0
    start += len(b"\r\ncontent-length:")
    end = head_lower.find(b"\r\n", start)
    length = int((head_lower[start:] if end < 0 else head_lower[start:end]).strip())
    if length < 0:
        raise ValueError("negative Content-Length")
    return length
