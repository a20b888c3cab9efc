"""The request-header policy: headers the sender owns are refused, and so are too many or too big."""

from __future__ import annotations

import pytest

from chronohook.outbound.errors import HeaderRefused
from chronohook.outbound.headers import FORBIDDEN_HEADERS, MAX_HEADER_BYTES, MAX_HEADERS, check_headers


@pytest.mark.parametrize(
    "name",
    [
        "Host",
        "host",
        "Content-Length",
        "Transfer-Encoding",
        "Connection",
        "Upgrade",
        "TE",
        "Trailer",
        "Expect",
        "Keep-Alive",
        "Proxy-Authorization",
        "proxy-connection",
        "Proxy-Anything",
    ],
)
def test_headers_the_sender_owns_are_refused(name: str) -> None:
    # Given / When / Then
    with pytest.raises(HeaderRefused, match="cannot be set"):
        check_headers({name: "x"})


def test_the_message_is_worded_for_the_owner() -> None:
    with pytest.raises(HeaderRefused) as caught:
        check_headers({"Host": "internal"})
    assert str(caught.value) == "header 'Host' cannot be set: the sender sets it from the URL"


def test_forbidden_names_are_lower_case() -> None:
    assert all(name == name.lower() for name in FORBIDDEN_HEADERS)
    assert {"host", "content-length", "transfer-encoding", "connection", "upgrade"} <= FORBIDDEN_HEADERS


def test_at_most_fifty_headers() -> None:
    # Given exactly the limit / Then fine; one more / Then refused
    check_headers({f"X-H{i}": "v" for i in range(MAX_HEADERS)})
    with pytest.raises(HeaderRefused, match="at most 50"):
        check_headers({f"X-H{i}": "v" for i in range(MAX_HEADERS + 1)})


def test_at_most_eight_kib_in_all() -> None:
    # Given names plus values exactly at the limit / Then fine; one byte more / Then refused
    check_headers({"X-Big": "v" * (MAX_HEADER_BYTES - len("X-Big"))})
    with pytest.raises(HeaderRefused, match="8192 bytes"):
        check_headers({"X-Big": "v" * (MAX_HEADER_BYTES - len("X-Big") + 1)})


def test_bytes_count_utf8() -> None:
    # Given a value of 3-byte characters just over the limit in UTF-8 although short in characters
    with pytest.raises(HeaderRefused):
        check_headers({"X": "€" * (MAX_HEADER_BYTES // 3 + 1)})


@pytest.mark.parametrize(
    "headers",
    [
        {"X-A": "a\r\nHost: evil"},
        {"X-A": "a\nb"},
        {"X-A": "nul\x00"},
        {"Bad Name": "x"},
        {"X-A:": "x"},
        {"": "x"},
        {"X-A": "\ud800"},
    ],
)
def test_injection_and_bad_text_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(HeaderRefused):
        check_headers(headers)


def test_ordinary_headers_pass() -> None:
    check_headers({"Authorization": "Bearer x", "Content-Type": "application/json", "X-Tab": "a\tb", "X-Text": "é"})
