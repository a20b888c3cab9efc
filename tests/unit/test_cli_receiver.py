"""``chronohook receiver`` (chronohook/commands/receiver.py) in process: it prints each request with control characters
escaped, says whether its signature verified (fetching the secret again once when a rotation made it fail), answers
the chosen status, listens on loopback only with a backlog of 1,024, and the API verbs resolve their URL and token."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from chronohook.cli import app
from chronohook.commands.api import Exit, resolve, safe
from chronohook.commands.receiver import BACKLOG, SecretSource, Verdict, describe, loopback, make_server, verify
from chronohook.outbound.signing import SigningKeys, new_secret, signature_headers

SECRET = new_secret()
OLD = new_secret()
BODY = '{"hello":"world"}'


def signed(secret: str = SECRET, body: str = BODY) -> dict[str, str]:
    now = datetime.now(UTC)
    return signature_headers(SigningKeys(secret, now, recuro_compat=True), "rj_1:1", body, now)


@pytest.fixture
def served() -> Iterator[tuple[str, io.StringIO, list[int]]]:
    # Given a receiver answering 418 whose secret comes from a fetch that first knows OLD, then (rotated) SECRET
    out = io.StringIO()
    fetches: list[int] = []
    answers = [[OLD], [SECRET]]

    def fetch() -> list[str]:
        fetches.append(1)
        return answers[min(len(fetches) - 1, 1)]

    server = make_server("127.0.0.1", 0, 418, SecretSource(None, fetch), out)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", out, fetches
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_the_receiver_verifies_prints_and_answers(served: tuple[str, io.StringIO, list[int]]) -> None:
    url, out, fetches = served
    # When a signed request arrives (the receiver still holding the old secret), Then it fetched again and verified
    r = httpx.post(f"{url}/hook?x=1", content=BODY, headers=signed())
    assert r.status_code == 418
    assert len(fetches) == 2
    first = out.getvalue()
    assert "POST /hook?x=1" in first and "signature: verified (Standard Webhooks and Recuro)" in first
    assert "answered 418" in first and '    {"hello":"world"}' in first
    # When a request arrives with a tampered body, Then it says so (and asks the API no more than every 5 s)
    httpx.post(f"{url}/hook", content=BODY + " ", headers=signed())
    assert "signature: NOT verified: The webhook-signature does not match the body." in out.getvalue()
    assert len(fetches) == 2
    # And a request still signed with the secret held before the rotation (a sender's cache) verifies too
    httpx.post(f"{url}/late", content=BODY, headers=signed(OLD))
    assert out.getvalue().count("signature: verified") == 2


def test_what_is_printed_escapes_control_characters() -> None:
    # Given a request whose header and body hold terminal escape sequences
    text = describe(
        "POST", "/p", "127.0.0.1:1", [("X-A", "a\x1b[31m")], b"b\x1b]0;t\x07", Verdict(None, "no secret"), 200
    )
    # Then none reaches the terminal as is
    assert "\x1b" not in text and "\x07" not in text and "\\x1b[31m" in text
    assert "signature: not checked (no secret)" in text
    assert safe("tab\tnewline\n") == "tab\tnewline\n"


def test_verify_without_a_secret_is_not_checked() -> None:
    assert verify(signed(), BODY.encode(), [], now=datetime.now(UTC).timestamp()).verified is None
    assert verify({}, b"", [SECRET], now=0).verified is False


def test_only_loopback_addresses_are_listened_on() -> None:
    # Then loopback spellings pass and anything else is refused as a usage error before binding
    assert loopback("127.0.0.1") and loopback("::1") and loopback("localhost") and loopback("127.0.0.2")
    assert not loopback("0.0.0.0") and not loopback("192.168.1.2") and not loopback("example.com")
    result = CliRunner().invoke(app, ["receiver", "--host", "0.0.0.0", "--secret", SECRET])
    assert result.exit_code == Exit.usage and "loopback" in result.stderr
    assert BACKLOG >= 1024
    server = make_server("127.0.0.1", 0, 200, SecretSource(SECRET, None), io.StringIO())
    try:
        assert server.request_queue_size >= 1024
    finally:
        server.server_close()


def test_url_and_token_come_from_the_options_else_the_dev_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a data directory holding the dev token, and the dev stack's port
    (tmp_path / "dev-token").write_text("chk_dev\n")
    monkeypatch.setenv("CHRONOHOOK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CHRONOHOOK_API_PORT", "8123")
    monkeypatch.delenv("CHRONOHOOK_API_HOST", raising=False)
    # Then options win, and the dev stack's URL and token fill in what is missing
    assert resolve("http://api.example:1", "t") == ("http://api.example:1", "t")
    assert resolve(None, None) == ("http://127.0.0.1:8123", "chk_dev")
    # And without a token anywhere, a verb is a usage error that says where it looked
    (tmp_path / "dev-token").unlink()
    result = CliRunner().invoke(
        app, ["queues", "list"], env={"CHRONOHOOK_URL": "http://127.0.0.1:9", "CHRONOHOOK_TOKEN": None}
    )
    assert result.exit_code == Exit.usage and "dev-token" in result.stderr


def test_a_chunked_body_is_read_whole_and_head_gets_no_body(served: tuple[str, io.StringIO, list[int]]) -> None:
    url, out, _ = served
    # When a body arrives chunked (no Content-Length), Then it is read and verified as sent
    r = httpx.post(f"{url}/chunked", content=iter([BODY[:5].encode(), BODY[5:].encode()]), headers=signed())
    assert r.status_code == 418
    assert "POST /chunked" in out.getvalue() and '    {"hello":"world"}' in out.getvalue()
    assert out.getvalue().count("signature: verified") == 1
    # And a HEAD is answered without a body
    assert httpx.head(f"{url}/h").content == b""
