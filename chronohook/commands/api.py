"""What every API verb shares (docs/cli.md): where the API and the token come from, how answers are printed, and
which exit status an outcome gets.

URL: ``--url``, else ``CHRONOHOOK_URL``, else the dev stack's (``CHRONOHOOK_API_HOST``/``CHRONOHOOK_API_PORT`` as
``chronohook dev`` serves it). Token: ``--token``, else ``CHRONOHOOK_TOKEN``, else the dev token file
(``$CHRONOHOOK_DATA_DIR/dev-token``, which ``chronohook dev`` writes).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from enum import IntEnum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from pydantic import BaseModel

if TYPE_CHECKING:
    from chronohook_client import Client


class Exit(IntEnum):
    """The exit statuses of the API verbs (docs/cli.md)."""

    ok = 0
    refused = 1  # the API answered 4xx (other than 404): invalid input, a conflict, a bad token, a limit
    usage = 2  # the command line itself is wrong (as click's own usage errors)
    not_found = 3  # the API answered 404: no such job, queue, cron or dead letter for this tenant
    unavailable = 4  # the API answered 5xx, or could not be reached


Url = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="CHRONOHOOK_URL",
        show_envvar=True,
        help="The API's base URL (default: the dev stack's, http://127.0.0.1:8000).",
    ),
]
Token = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="CHRONOHOOK_TOKEN",
        show_envvar=True,
        help="The API token (default: the dev stack's, from $CHRONOHOOK_DATA_DIR/dev-token).",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")]


def fail(message: str, code: Exit) -> NoReturn:
    typer.echo(f"chronohook: {message}", err=True)
    raise typer.Exit(int(code))


def resolve(url: str | None, token: str | None) -> tuple[str, str]:
    """The API's URL and the token, from the options (and their variables), else the dev stack's."""
    from chronohook import devstack
    from chronohook.settings import load_settings

    if url is None or token is None:
        settings = load_settings()
        if url is None:
            url = devstack.api_url(settings.api_host, settings.api_port)
        if token is None:
            path = settings.data_dir / "dev-token"
            try:
                token = path.read_text(encoding="utf-8").strip()
            except OSError:
                fail(
                    f"no token: give --token or CHRONOHOOK_TOKEN (no dev token at {path.resolve()}: "
                    "`chronohook dev` writes one)",
                    Exit.usage,
                )
            if not token:
                fail(f"no token: {path.resolve()} is empty", Exit.usage)
    return url, token


def _client_package() -> Any:
    try:
        import chronohook_client
    except ImportError:  # the CLI is installed without the client (pip install . alone)
        fail("the API verbs need the Python client: pip install ./clients/python", Exit.usage)
    return chronohook_client


@contextmanager
def client(url: str | None, token: str | None) -> Iterator[Client]:
    """A client for the resolved API; API errors become one line on standard error and their exit status."""
    package = _client_package()
    base, secret = resolve(url, token)
    with package.Client(base, secret) as c, api_errors():
        yield c


@contextmanager
def api_errors() -> Iterator[None]:
    from chronohook_client import APIError, NotFoundError, ServerError, TransportError

    try:
        yield
    except NotFoundError as exc:
        fail(f"not found: {exc.message}", Exit.not_found)
    except ServerError as exc:
        fail(f"the API failed: {exc.status_code} {exc.message}", Exit.unavailable)
    except APIError as exc:
        details = "".join(f"\n  {field}: {' '.join(msgs)}" for field, msgs in exc.errors.items())
        fail(f"refused ({exc.status_code}): {exc.message}{details}", Exit.refused)
    except TransportError as exc:
        fail(f"the API could not be reached: {exc}", Exit.unavailable)


# -- printing ---------------------------------------------------------------------------------------------------------
def plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def emit_json(value: Any) -> None:
    typer.echo(json.dumps(plain(value), indent=2, ensure_ascii=False))


def show(value: BaseModel, as_json: bool, skip: Sequence[str] = ()) -> None:
    """One object: JSON, or one ``field: value`` line per field (nested values as compact JSON)."""
    if as_json:
        emit_json(value)
        return
    data = plain(value)
    width = max((len(k) for k in data), default=0)
    for key, item in data.items():
        if key in skip:
            continue
        text = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
        typer.echo(f"{key.ljust(width)}  {safe(text)}")


def table(items: Iterable[BaseModel], columns: Sequence[tuple[str, Callable[[Any], Any]]], as_json: bool) -> None:
    """A list: a JSON array of every item, or a table with one row per item."""
    rows = list(items)
    if as_json:
        emit_json(rows)
        return
    cells = [[title.upper() for title, _ in columns]]
    cells += [[_cell(get(row)) for _, get in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    for r in cells:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    if not rows:
        typer.echo("(none)", err=True)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return safe(str(value))


def safe(text: str) -> str:
    """``text`` with control characters (a terminal's escape sequences among them) shown escaped, not obeyed: job
    data is anyone's."""
    return "".join(ch if ch in "\n\t" or ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


def parse_headers(given: Sequence[str] | None) -> dict[str, str] | None:
    """``--header 'Name: value'`` options as a dict."""
    if not given:
        return None
    headers: dict[str, str] = {}
    for item in given:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            fail(f"--header wants 'Name: value', not {item!r}", Exit.usage)
        headers[name.strip()] = value.strip()
    return headers


def parse_json(text: str | None, option: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        fail(f"{option} is not JSON: {exc}", Exit.usage)


def progress_output() -> Any:
    """Where progress bars go: standard error, so standard output stays parseable."""
    return sys.stderr
