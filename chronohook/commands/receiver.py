"""``chronohook receiver``: a local test receiver that prints each request, verifies its signature and answers.

It listens on a loopback address only (127.0.0.1 by default; jobs reach it from a dev stack, whose egress guard
allows loopback), with a listen backlog of 1,024. Each request is printed (method, path, headers, body, control
characters escaped) with whether its signature verified against the tenant's signing secret: the one given with
``--secret``, else the one the API shows for the token (fetched at start, and again once when a request fails to
verify, so a rotation is picked up). It answers ``--status`` (200 by default).
"""

from __future__ import annotations

import http.server
import ipaddress
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TextIO

import typer

from chronohook.commands.api import Exit, Token, Url, fail, resolve, safe

BACKLOG = 1024
MAX_BODY_BYTES = 16 * 1024 * 1024  # a request larger than this is answered 413 and not read
KEPT_SECRETS = 4  # the secrets fetched most recently that a request may verify with (a rotation's old ones too)
SIGNATURE_SETS = (("Standard Webhooks", "webhook-signature"), ("Recuro", "x-recuro-signature"))


@dataclass(frozen=True)
class Verdict:
    verified: bool | None  # None: no secret to verify with
    reason: str


def verify(
    headers: Mapping[str, str], body: bytes, secrets: Sequence[str], now: float, tolerance: float = 300.0
) -> Verdict:
    from chronohook_client import WebhookVerificationError, verify_webhook

    if not secrets:
        return Verdict(None, "no secret to verify with")
    try:
        verify_webhook(headers, body, list(secrets), now=now, tolerance=tolerance)
    except WebhookVerificationError as exc:
        return Verdict(False, str(exc))
    present = [name for name, header in SIGNATURE_SETS if _has(headers, header)]
    return Verdict(True, " and ".join(present))


def _has(headers: Mapping[str, str], name: str) -> bool:
    return any(key.lower() == name for key in headers)


def describe(
    method: str, path: str, peer: str, headers: Sequence[tuple[str, str]], body: bytes, verdict: Verdict, status: int
) -> str:
    """What the receiver prints for one request (pure: tests read it)."""
    lines = [f"{safe(method)} {safe(path)}  (from {peer})"]
    lines += [f"  {safe(name)}: {safe(value)}" for name, value in headers]
    text = body.decode("utf-8", errors="replace")
    lines.append(f"  body ({len(body)} bytes):" if body else "  (no body)")
    lines += [f"    {line}" for line in safe(text).splitlines()] if body else []
    if verdict.verified is None:
        lines.append(f"  signature: not checked ({verdict.reason})")
    elif verdict.verified:
        lines.append(f"  signature: verified ({verdict.reason})")
    else:
        lines.append(f"  signature: NOT verified: {verdict.reason}")
    lines.append(f"  answered {status}")
    return "\n".join(lines) + "\n"


class _Server(http.server.ThreadingHTTPServer):
    request_queue_size = BACKLOG  # the listen backlog: a burst of deliveries must not overflow the accept queue
    daemon_threads = True


class SecretSource:
    """The secrets to verify with: given once, or fetched through the API (again on demand, at most every 5 s)."""

    def __init__(self, given: str | None, fetch: Callable[[], list[str]] | None) -> None:
        self._given = [given] if given else []
        self._fetch = fetch
        self._lock = threading.Lock()
        self._fetched: list[str] = []
        self._refreshed_at: float | None = None  # the last refetch a failed verification asked for

    def current(self) -> list[str]:
        if self._given:
            return self._given
        with self._lock:
            if not self._fetched:
                self._refresh()
            return list(self._fetched)

    def refreshed(self) -> list[str]:
        """The secrets fetched anew (a rotation), unless they were given or last refetched under 5 s ago."""
        if self._given or self._fetch is None:
            return self.current()
        with self._lock:
            now = time.monotonic()
            if self._refreshed_at is None or now - self._refreshed_at >= 5.0:
                self._refreshed_at = now
                self._refresh()
            return list(self._fetched)

    def _refresh(self) -> None:
        if self._fetch is None:
            return
        try:
            fetched = self._fetch()
        except Exception as exc:  # the API away: say so, keep what we had
            print(f"chronohook receiver: could not fetch the signing secret: {exc}", file=sys.stderr, flush=True)
            return
        # The secrets held before stay beside the new ones: for up to 5 s after a rotation the senders still sign
        # with the secret they cached (decision 0018), and the API shows only the new one.
        self._fetched = (fetched + [old for old in self._fetched if old not in fetched])[:KEPT_SECRETS]


def make_server(
    host: str, port: int, status: int, secrets: SecretSource, out: TextIO, count: int | None = None
) -> http.server.ThreadingHTTPServer:
    """The receiver, bound (``port`` 0: any free port); serve it with ``serve_forever``."""
    lock = threading.Lock()
    seen = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            body = self._body()
            if body is None:
                self.send_response(413)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                return
            pairs = list(self.headers.items())
            headers = dict(pairs)
            verdict = verify(headers, body, secrets.current(), time.time())
            if verdict.verified is False:  # perhaps rotated since: ask once more
                verdict = verify(headers, body, secrets.refreshed(), time.time())
            # Printed before the answer goes out: whoever sees the answer can read what was printed.
            peer = f"{self.client_address[0]}:{self.client_address[1]}"
            with lock:
                out.write(describe(self.command, self.path, peer, pairs, body, verdict, status))
                out.flush()
                seen[0] += 1
                done = count is not None and seen[0] >= count
            answer = b"ok\n" if status < 300 else f"status {status}\n".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer)
            if done:
                threading.Thread(target=self.server.shutdown, daemon=True).start()

        def _body(self) -> bytes | None:
            """The request's body (Content-Length or chunked); None when it is over MAX_BODY_BYTES."""
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks: list[bytes] = []
                size = 0
                while (chunk := int(self.rfile.readline(64).split(b";")[0].strip() or b"0", 16)) > 0:
                    size += chunk
                    if size > MAX_BODY_BYTES:
                        return None
                    chunks.append(self.rfile.read(chunk))
                    self.rfile.readline(8)  # the CRLF after the chunk
                while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                return None
            return self.rfile.read(length) if length > 0 else b""

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        def log_message(self, *_args: Any) -> None:
            return None

    return _Server((host, port), Handler)


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(
    port: Annotated[int, typer.Option(min=0, max=65535, help="The port to listen on (0: any free one).")] = 8787,
    status: Annotated[int, typer.Option(min=100, max=599, help="The status every request is answered.")] = 200,
    secret: Annotated[
        str | None,
        typer.Option(
            envvar="CHRONOHOOK_SIGNING_SECRET",
            help="The signing secret to verify with (default: the tenant's, fetched through the API with the token).",
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="The loopback address to listen on.")] = "127.0.0.1",
    count: Annotated[int | None, typer.Option(min=1, help="Stop after this many requests (default: never).")] = None,
    url: Url = None,
    token: Token = None,
) -> None:
    """A local test receiver: prints each request, verifies its signature, answers --status."""
    if not loopback(host):
        fail(f"the receiver listens on a loopback address only, not {host!r}", Exit.usage)

    base, api_token = (url, token) if secret else resolve(url, token)

    def fetch() -> list[str]:
        from chronohook_client import Client

        assert base is not None and api_token is not None
        with Client(base, api_token) as c:
            answer = c.signing_secret.get()
        return [answer.secret] + ([answer.recuro_secret] if answer.recuro_secret else [])

    secrets = SecretSource(secret, None if secret else fetch)
    try:
        server = make_server(host, port, status, secrets, sys.stdout, count)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc}", Exit.usage)
    where = server.server_address[1]
    how = "verifying with the secret given" if secret else "verifying with the tenant's signing secret"
    if not secret and not secrets.current():
        how = "not verifying: the signing secret could not be fetched"
    typer.echo(f"chronohook receiver: listening on http://{host}:{where}/ (answering {status}; {how})")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
