"""``chronohook crons list|get|create|pause|resume|delete``: Recuro crons, by their integer id."""

from __future__ import annotations

from typing import Annotated

import typer

from chronohook.commands.api import Json, Token, Url, client, parse_headers, show, table

app = typer.Typer(help="Recuro crons: list, show, create, pause, resume, delete.")
CronId = Annotated[int, typer.Argument(help="The cron's id.")]

COLUMNS = [
    ("id", lambda c: c.id),
    ("name", lambda c: c.name),
    ("active", lambda c: c.is_active),
    ("cron_expression", lambda c: c.cron_expression),
    ("timezone", lambda c: c.timezone),
    ("next_run_at", lambda c: c.next_run_at),
    ("url", lambda c: c.url),
]


@app.command("list")
def list_(
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many (default: all).")] = None,
    url: Url = None,
    token: Token = None,
    json_: Json = False,
) -> None:
    """List the crons, following every page."""
    with client(url, token) as c:
        table(c.crons.list(per_page=100, max_items=limit), COLUMNS, json_)


@app.command()
def get(cron_id: CronId, url: Url = None, token: Token = None, json_: Json = False) -> None:
    """Show a cron."""
    with client(url, token) as c:
        show(c.crons.get(cron_id), json_)


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="The cron's name.")],
    target: Annotated[str, typer.Argument(metavar="TARGET_URL", help="The URL each occurrence calls.")],
    cron: Annotated[str, typer.Option("--cron", help="The cron expression ('0 3 * * *'; 6 fields: seconds first).")],
    timezone: Annotated[str | None, typer.Option(help="The expression's IANA zone (default: UTC).")] = None,
    method: Annotated[str | None, typer.Option(help="HTTP method (default: POST).")] = None,
    header: Annotated[list[str] | None, typer.Option(help="A request header, 'Name: value' (repeatable).")] = None,
    payload: Annotated[str | None, typer.Option(help="The body each occurrence sends.")] = None,
    timeout_seconds: Annotated[int | None, typer.Option(help="Per request (default: 30).")] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused.")] = False,
    idempotency_key: Annotated[str | None, typer.Option(help="Send again safely: a repeat creates nothing.")] = None,
    url: Url = None,
    token: Token = None,
    json_: Json = False,
) -> None:
    """Create a cron NAME calling TARGET_URL on --cron."""
    with client(url, token) as c:
        created = c.crons.create(
            name,
            target,
            cron,
            timezone=timezone,
            method=method,
            headers=parse_headers(header),
            payload=payload,
            timeout_seconds=timeout_seconds,
            is_active=False if paused else None,
            idempotency_key=idempotency_key,
        )
        show(created, json_)


@app.command()
def pause(cron_id: CronId, url: Url = None, token: Token = None, json_: Json = False) -> None:
    """Pause a cron (nothing runs until it is resumed)."""
    with client(url, token) as c:
        show(c.crons.pause(cron_id), json_)


@app.command()
def resume(cron_id: CronId, url: Url = None, token: Token = None, json_: Json = False) -> None:
    """Resume a cron (occurrences missed while paused are skipped)."""
    with client(url, token) as c:
        show(c.crons.resume(cron_id), json_)


@app.command()
def delete(cron_id: CronId, url: Url = None, token: Token = None) -> None:
    """Delete a cron and its runs (its history stays)."""
    with client(url, token) as c:
        c.crons.delete(cron_id)
    typer.echo(f"deleted cron {cron_id}")
